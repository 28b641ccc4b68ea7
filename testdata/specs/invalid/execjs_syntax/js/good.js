function ok() { return 1; }
