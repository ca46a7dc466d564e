//! Redis' glob-style matching lives in `redynamo_layers::glob`, where the
//! ACL layer's key and channel patterns need it too; KEYS and SCAN MATCH
//! reach it through here.

pub use redynamo_layers::glob::matches;
