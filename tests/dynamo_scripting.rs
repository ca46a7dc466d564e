//! Scripts on the DynamoDB backend (moto): refused with the error
//! docs/scripting.md documents, until a script can run against the
//! recording keyspace and commit as one conditional transaction.

mod common;

use common::*;

/// The DynamoDB backend refuses scripts with a documented error.
#[tokio::test]
async fn dynamodb_refuses_scripts() {
    let Some(backend) = Backend::dynamo() else {
        return;
    };
    let server = TestServer::on(&backend).await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "0"]).await,
        err("ERR 'EVAL' is not supported by the DynamoDB backend: scripts and functions run on the memory backend only (docs/scripting.md)")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LIST"]).await,
        err("ERR 'FUNCTION LIST' is not supported by the DynamoDB backend: scripts and functions run on the memory backend only (docs/scripting.md)")
    );
}
