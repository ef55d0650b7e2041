//! The shared test programs now live in `veritrace_machine::testkit::programs` (feature
//! `testkit`) so that the e2e fuzzer and gas table can step them too.
#![allow(unused_imports)]

pub(crate) use veritrace_machine::testkit::programs::*;
