"""Aurora Global Database: dialects, the testbed's global emulation and the gdb_* plugins."""
