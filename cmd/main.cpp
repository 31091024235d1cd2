#include <has/core/error.hpp>
#include <iostream>
int main() { return 0; }
