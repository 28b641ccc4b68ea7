module.exports = {
  parse(response) {
    return { url: response.url };
  },
};
