//! ACL users over real TCP: what the differential test cannot show against
//! redis-server 7.0 (rules changed between MULTI and EXEC, HELLO … AUTH,
//! CLIENT LIST's `user=`, the metrics of denials and failed AUTH, the
//! bound of ACL LOG, secrets kept out of SLOWLOG and CLIENT LIST, and
//! `--aclfile` at start-up).

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use redynamo::config::Config;

async fn authed(server: &TestServer, user: &str, pass: &str) -> RawClient {
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["AUTH", user, pass]).await, ok());
    c
}

#[tokio::test]
async fn exec_checks_the_queue_again_when_rules_changed() {
    let server = TestServer::start().await;
    let mut admin = server.raw().await;
    assert_eq!(
        admin
            .cmd(&[
                "ACL",
                "SETUSER",
                "u",
                "on",
                ">p",
                "~*",
                "+@transaction",
                "+set",
                "+get"
            ])
            .await,
        ok()
    );
    let mut c = authed(&server, "u", "p").await;
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["GET", "a"]).await, simple("QUEUED"));
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "u", "-set"]).await, ok());
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([
            err("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: User u has no permissions to run the 'set' command"),
            nil(),
        ])
    );
    let log = admin.cmd(&["ACL", "LOG", "1"]).await;
    let entry = log.items()[0].items();
    assert_eq!(entry[5].text(), "multi", "logged in the MULTI context");
}

#[tokio::test]
async fn hello_auth_client_list_and_reset() {
    let server = TestServer::start().await;
    let mut admin = server.raw().await;
    assert_eq!(
        admin
            .cmd(&["ACL", "SETUSER", "svc", "on", ">pw", "allkeys", "+@all"])
            .await,
        ok()
    );
    let mut c = server.raw().await;
    let hello = c.cmd(&["HELLO", "3", "AUTH", "svc", "pw"]).await;
    assert!(matches!(hello, redynamo_layers::Reply::Map(_)), "{hello:?}");
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]).await, bulk("svc"));
    let info = c.cmd(&["CLIENT", "INFO"]).await.text();
    assert!(info.contains(" user=svc "), "{info}");
    // Nothing secret in CLIENT LIST.
    let list = admin.cmd(&["CLIENT", "LIST"]).await.text();
    assert!(!list.contains("pw"), "{list}");
    // RESET goes back to the default user.
    assert_eq!(c.cmd(&["RESET"]).await, simple("RESET"));
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]).await, bulk("default"));
    // A disabled user cannot log in, with Redis' one text for both.
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "svc", "off"]).await, ok());
    assert_eq!(
        c.cmd(&["AUTH", "svc", "pw"]).await,
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
}

#[tokio::test]
async fn denials_and_failed_auth_are_counted_and_the_log_is_bounded() {
    let mut config = metrics_config();
    config.acllog_max_len = 3;
    let server = TestServer::with_config(config).await;
    let mut admin = server.raw().await;
    assert_eq!(
        admin
            .cmd(&["ACL", "SETUSER", "r", "on", "nopass", "~r*", "+get"])
            .await,
        ok()
    );
    let mut c = authed(&server, "r", "x").await;
    for i in 0..20 {
        let key = format!("other{i}");
        assert_eq!(
            c.cmd(&["GET", &key]).await,
            err("NOPERM No permissions to access a key")
        );
    }
    assert_eq!(
        c.cmd(&["SET", "r1", "v"]).await,
        err("NOPERM User r has no permissions to run the 'set' command")
    );
    let mut brute = server.raw().await;
    for _ in 0..50 {
        assert_eq!(
            brute.cmd(&["AUTH", "r2", "guess"]).await,
            err("WRONGPASS invalid username-password pair or user is disabled.")
        );
    }
    let log = admin.cmd(&["ACL", "LOG", "100"]).await;
    assert_eq!(log.items().len(), 3, "bounded by acllog-max-len");
    // The 50 AUTH attempts are one entry with a count.
    assert_eq!(log.items()[0].items()[1], int(50));
    let scrape = server.scrape().await;
    assert_eq!(
        scrape.value("redynamo_acl_denied_total", &[("reason", "key")]),
        20.0
    );
    assert_eq!(
        scrape.value("redynamo_acl_denied_total", &[("reason", "command")]),
        1.0
    );
    assert_eq!(scrape.value("redynamo_auth_failures_total", &[]), 50.0);
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "acllog-max-len"]).await,
        bulks(&["acllog-max-len", "3"])
    );
}

#[tokio::test]
async fn setuser_rules_never_reach_the_slowlog() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"])
            .await,
        ok()
    );
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "s", "on", ">topsecret", "+get"])
            .await,
        ok()
    );
    let log = format!("{:?}", c.cmd(&["SLOWLOG", "GET", "10"]).await);
    assert!(!log.contains("topsecret"), "{log}");
    assert!(log.contains("(redacted)"), "{log}");
}

#[tokio::test]
async fn requirepass_is_the_default_users_password() {
    let mut config = Config::for_tests();
    config.requirepass = Some("pw".into());
    let server = TestServer::with_config(config).await;
    let mut admin = authed(&server, "default", "pw").await;
    let list = admin.cmd(&["ACL", "LIST"]).await;
    assert!(
        list.items()[0].text().starts_with("user default on #"),
        "{list:?}"
    );
    assert_eq!(admin.cmd(&["CONFIG", "SET", "requirepass", ""]).await, ok());
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["GET", "k"]).await, nil(), "no password: nopass");
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "default", ">new"]).await,
        ok()
    );
    let mut d = server.raw().await;
    assert_eq!(
        d.cmd(&["GET", "k"]).await,
        err("NOAUTH Authentication required.")
    );
    assert_eq!(d.cmd(&["AUTH", "new"]).await, ok());
}

#[tokio::test]
async fn aclfile_is_loaded_at_start_and_a_broken_one_stops_it() {
    let dir = std::env::temp_dir().join(format!("redynamo-aclfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser app on >apppw ~app:* +@read +@write\n",
    )
    .unwrap();
    let mut config = Config::for_tests();
    config.aclfile = Some(file.clone());
    let server = TestServer::with_config(config.clone()).await;
    let mut c = authed(&server, "app", "apppw").await;
    assert_eq!(c.cmd(&["SET", "app:1", "v"]).await, ok());
    assert_eq!(
        c.cmd(&["SET", "x", "v"]).await,
        err("NOPERM No permissions to access a key")
    );
    std::fs::write(&file, "user app on +nosuch\n").unwrap();
    let failed = redynamo::server::Server::builder(config).bind().await;
    let e = failed.err().expect("a broken ACL file stops start-up");
    assert!(
        e.to_string()
            .contains("Unknown command or category name in ACL"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
