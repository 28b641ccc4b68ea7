import { sign } from "./does-not-exist.js";
import fs from "fs";
export function parse() { return sign(fs); }
