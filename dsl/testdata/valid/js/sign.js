function sign(s) { return s + "!"; }
