exports.parse = function (response) {
  return { url: response.url };
};
module.exports.other = () => 2;
