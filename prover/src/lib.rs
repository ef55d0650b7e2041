//! The executor of veritrace: runs requested inferences, commits to their layer traces and
//! answers disputes. Built on [`veritrace_vm`].
