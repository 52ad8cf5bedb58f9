// Replaced by the real agent entry point (in progress).
int main() { return 0; }
