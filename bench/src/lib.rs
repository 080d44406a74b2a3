//! Load harness for coregate: an HTTP/1.1 load generator and a mock origin.
