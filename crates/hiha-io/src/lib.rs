//! NetCDF readers and writers for hiha (pending).
