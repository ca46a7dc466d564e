//! Starting over DynamoDB: the table is created on request, checked
//! otherwise, and the binary takes its AWS settings from the standard chain.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use common::{direct_client, free_port, moto, table_value, unique_table, TestServer};
use redis::AsyncCommands;

#[tokio::test]
async fn a_missing_table_is_a_clear_error_without_create_table() {
    let Some(moto) = moto() else {
        return;
    };
    let table = unique_table("missing");
    let err = TestServer::try_dynamo(&moto.endpoint(), &table, &[])
        .await
        .err()
        .expect("no table, no --create-table: start-up must fail");
    assert!(
        err.contains(&format!("DynamoDB table '{table}' does not exist")),
        "{err}"
    );
    assert!(err.contains("--create-table"), "{err}");
}

#[tokio::test]
async fn a_table_of_another_shape_is_refused() {
    let Some(moto) = moto() else {
        return;
    };
    let table = unique_table("shape");
    let client = direct_client(&moto.endpoint()).await;
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a foreign table");
    for args in [&[][..], &["--create-table".to_string()][..]] {
        let err = TestServer::try_dynamo(&moto.endpoint(), &table, args)
            .await
            .err()
            .expect("a foreign table must be refused");
        assert!(err.contains("does not have redynamo's schema"), "{err}");
        assert!(err.contains("key schema"), "{err}");
    }
}

#[tokio::test]
async fn create_table_declares_the_whole_schema() {
    let Some(moto) = moto() else {
        return;
    };
    let table = unique_table("created");
    let server = TestServer::try_dynamo(&moto.endpoint(), &table, &["--create-table".into()])
        .await
        .expect("create and start");
    let client = direct_client(&moto.endpoint()).await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe");
    let t = described.table().expect("table");
    let index = &t.local_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("score"));
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let streams = t.stream_specification().expect("streams");
    assert!(streams.stream_enabled());
    assert_eq!(
        streams.stream_view_type().map(|v| v.as_str()),
        Some("NEW_AND_OLD_IMAGES")
    );
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("ttl");
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("ttl")
    );
    // A second server on the same table starts without creating anything.
    let again = TestServer::try_dynamo(&moto.endpoint(), &table, &[])
        .await
        .expect("existing table");
    let mut conn = server.conn().await;
    let _: () = conn.set("k", "v").await.expect("SET");
    let mut conn = again.conn().await;
    let v: String = conn.get("k").await.expect("GET on the other node");
    assert_eq!(v, "v");
}

/// The CloudFormation template declares what `--create-table` creates.
#[test]
fn the_deploy_template_matches_the_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/dynamodb/table.yaml");
    let template = std::fs::read_to_string(path).expect("deploy/dynamodb/table.yaml");
    for needle in [
        "AttributeName: pk",
        "AttributeName: sk",
        "AttributeName: sc",
        "AttributeType: B",
        "IndexName: score",
        "ProjectionType: KEYS_ONLY",
        "BillingMode: PAY_PER_REQUEST",
        "StreamViewType: NEW_AND_OLD_IMAGES",
        "AttributeName: ttl",
    ] {
        assert!(template.contains(needle), "template lacks {needle:?}");
    }
}

/// The binary, configured through the standard AWS chain (environment
/// variables here): it starts, serves, and writes to the table.
#[tokio::test]
async fn the_binary_uses_the_standard_aws_chain() {
    let Some(moto) = moto() else {
        return;
    };
    let table = unique_table("binary");
    let port = free_port();
    let spawn = |table: &str, create: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_redynamo"));
        cmd.args([
            "--port",
            &port.to_string(),
            "--backend",
            "dynamodb",
            "--table",
            table,
        ])
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if create {
            cmd.arg("--create-table");
        }
        cmd
    };
    // Without the table: a clear error and a non-zero exit.
    let out = spawn(&table, false).output().expect("run redynamo");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");

    let mut child = spawn(&table, true).spawn().expect("start redynamo");
    let url = format!("redis://127.0.0.1:{port}/");
    let mut conn = None;
    for _ in 0..100 {
        if let Ok(c) = redis::Client::open(url.as_str())
            .expect("url")
            .get_multiplexed_tokio_connection()
            .await
        {
            conn = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let result = async {
        let mut conn = conn.ok_or("redynamo did not start")?;
        let _: () = conn.set("from-binary", "yes").await.map_err(|_| "SET")?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|_| "INFO")?;
        Ok::<String, &str>(info)
    }
    .await;
    // Stop it (by PID) before asserting, so a failure leaves nothing behind.
    let _ = child.kill();
    let _ = child.wait();
    let info = result.expect("serve over DynamoDB");
    assert!(info.contains("dynamodb"), "{info}");
    let client = direct_client(&moto.endpoint()).await;
    assert_eq!(
        table_value(&client, &table, 0, b"from-binary")
            .await
            .as_deref(),
        Some(&b"yes"[..])
    );
}

/// With no region anywhere (environment, profile, instance metadata) the
/// binary says so in one line on stderr and exits 1: no backtrace, and no
/// warnings from the instance-metadata client before it. Needs no moto:
/// it fails before any DynamoDB call.
#[test]
fn no_region_is_one_line_before_any_metadata_noise() {
    let home = std::env::temp_dir().join(format!("redynamo-no-region-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("an empty HOME");
    // A closed port: the metadata client fails at once, as off EC2 (or
    // behind a proxy that refuses 169.254.169.254).
    let imds = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_redynamo"))
        .args(["--port", "0", "--backend", "dynamodb"])
        .env("RUST_BACKTRACE", "1")
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .stdin(Stdio::null())
        .output()
        .expect("run redynamo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "redynamo: no AWS region configured for DynamoDB: set AWS_REGION or a profile's region\n"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stdout.to_lowercase().contains("imds"), "{stdout}");
}

/// DynamoDB out of reach: one line, the chain of causes without the SDK's
/// Debug dump of every layer.
#[test]
fn unreachable_dynamodb_is_one_line() {
    let home = std::env::temp_dir().join(format!("redynamo-unreachable-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("an empty HOME");
    let out = Command::new(env!("CARGO_BIN_EXE_redynamo"))
        .args(["--port", "0", "--backend", "dynamodb", "--table", "t"])
        .args(["--dynamo-max-attempts", "1"])
        .env("RUST_BACKTRACE", "1")
        .env("HOME", &home)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("run redynamo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("redynamo: cannot reach DynamoDB to check table 't': "),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("Connection refused"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// `--read-consistency strong` makes every read consistent; with
/// `eventual`, a node still reads the keys it just wrote consistently.
#[tokio::test]
async fn read_consistency_reaches_dynamodb() {
    let Some(moto) = moto() else {
        return;
    };
    let proxy = common::FaultProxy::start(moto.port).await;
    let consistent = |proxy: &common::FaultProxy, op: &str| {
        proxy
            .last_body(op)
            .expect("a request")
            .contains("\"ConsistentRead\":true")
    };
    let strong = TestServer::try_dynamo(
        &proxy.endpoint(),
        &unique_table("strong"),
        &[
            "--create-table".into(),
            "--read-consistency".into(),
            "strong".into(),
        ],
    )
    .await
    .expect("start");
    let mut conn = strong.conn().await;
    let _: Option<String> = conn.get("never-written").await.expect("GET");
    assert!(consistent(&proxy, "GetItem"));
    let _: Vec<Option<String>> = conn.mget(&["a", "b"]).await.expect("MGET");
    assert!(consistent(&proxy, "BatchGetItem"));
    let _: Vec<String> = conn.keys("*").await.expect("KEYS");
    assert!(consistent(&proxy, "Scan"));

    let eventual = TestServer::try_dynamo(
        &proxy.endpoint(),
        &unique_table("eventual"),
        &["--create-table".into()],
    )
    .await
    .expect("start");
    let mut conn = eventual.conn().await;
    let _: Option<String> = conn.get("never-written").await.expect("GET");
    assert!(!consistent(&proxy, "GetItem"));
    let _: () = conn.set("mine", "v").await.expect("SET");
    let v: String = conn.get("mine").await.expect("GET");
    assert_eq!(v, "v");
    assert!(consistent(&proxy, "GetItem"), "read-your-writes");
    let _: Vec<Option<String>> = conn.mget(&["x", "y"]).await.expect("MGET");
    assert!(!consistent(&proxy, "BatchGetItem"));
}
