"""radix4 package."""
