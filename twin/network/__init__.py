"""Scale-out network fabric: sizing (closed form) now; routing, traffic and rates build on it."""
