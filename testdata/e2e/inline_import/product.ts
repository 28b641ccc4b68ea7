interface Product {
  name: string;
  sku: string;
}

export function product(response: any): Product {
  return { name: response.css("h1.name::text").get(), sku: response.css(".sku::text").get() };
}
