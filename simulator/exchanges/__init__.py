"""One subpackage per simulated venue; venues never import each other."""
