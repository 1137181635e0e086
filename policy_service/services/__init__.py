"""Use cases. Each takes plain data and the process state, and returns domain objects;
none imports Flask or marshmallow."""
