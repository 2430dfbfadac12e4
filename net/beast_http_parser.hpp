#pragma once
// beast's HTTP parser and read, included through here: GCC 12 at the
// sanitizer build's -O2 reports a false maybe-uninitialized inside beast's
// parser (a boost::optional returned empty, basic_parser.hpp:66), depending
// on what gets inlined around it. The warning points into the header, so it
// is silenced for beast's headers only (this must be their first inclusion
// in a translation unit) and stays an error in our code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#pragma GCC diagnostic pop
