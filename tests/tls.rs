//! TLS and mutual TLS with certificates made here (`rcgen`): `redis-cli
//! --tls`, the `redis` crate over TLS, plain and TLS ports at once, a
//! client with no or a wrong certificate refused in the handshake,
//! certificates rotated while clients are connected (CONFIG SET and
//! SIGHUP), and a certificate's CN naming the ACL user.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use redynamo::config::{Config, TlsAuthClients, TlsAuthUser};
use redynamo_layers::Reply;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A certificate authority.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `cn` signed by this CA, valid for localhost and
    /// 127.0.0.1: (certificate PEM, key PEM).
    fn issue(&self, cn: &str) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ];
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files of one test, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("redynamo-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA, a server certificate from it and a client certificate (CN
/// `client`) from it, on disk.
struct Pki {
    ca: Ca,
    dir: Dir,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let ca = Ca::new("redynamo test CA");
        let dir = Dir::new(name);
        dir.write("ca.pem", &ca.pem());
        let (cert, key) = ca.issue("server");
        dir.write("server.pem", &cert);
        dir.write("server.key", &key);
        let (cert, key) = ca.issue("client");
        dir.write("client.pem", &cert);
        dir.write("client.key", &key);
        Pki { ca, dir }
    }

    /// A config serving TLS on a free port (and plain TCP on `plain`, 0:
    /// off), requiring client certificates from the CA.
    fn config(&self, plain: u16) -> Config {
        let mut config = Config::for_tests();
        config.port = plain;
        config.tls_port = free_port();
        config.tls_cert_file = Some(self.dir.0.join("server.pem"));
        config.tls_key_file = Some(self.dir.0.join("server.key"));
        config.tls_ca_cert_file = Some(self.dir.0.join("ca.pem"));
        config
    }

    fn client(&self) -> (String, String) {
        (
            std::fs::read_to_string(self.dir.0.join("client.pem")).unwrap(),
            std::fs::read_to_string(self.dir.0.join("client.key")).unwrap(),
        )
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A TLS client trusting `ca_pem`, presenting `client` (certificate PEM,
/// key PEM) if given.
async fn connect(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<&(String, String)>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let certs: Vec<_> = CertificateDer::pem_slice_iter(cert.as_bytes())
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Send a command over `stream` and read its reply; Err when the server
/// refused or closed the connection.
async fn cmd(stream: &mut TlsStream<TcpStream>, args: &[&str]) -> std::io::Result<Reply> {
    stream.write_all(&encode_str(args)).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(Some((reply, _))) = parse_reply(&buf) {
                return Ok(reply);
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("a reply or a close within the I/O timeout")
}

/// The subject CN of the certificate the server presented.
fn server_cn(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    let (_, conn) = stream.get_ref();
    let cert = &conn.peer_certificates().unwrap()[0];
    redynamo::server::tls::subject_cn(cert).unwrap()
}

#[tokio::test]
async fn plain_and_tls_at_once_with_redis_cli_and_the_redis_crate() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pki = Pki::new("both");
    let server = TestServer::with_ports(pki.config(free_port())).await;
    // Plain TCP still works beside TLS.
    let mut plain = server.raw().await;
    assert_eq!(plain.cmd(&["SET", "k", "v"]).await, ok());

    let client = pki.client();
    let mut tls = connect(server.tls_addr(), &pki.ca.pem(), Some(&client))
        .await
        .unwrap();
    assert_eq!(cmd(&mut tls, &["GET", "k"]).await.unwrap(), bulk("v"));
    assert_eq!(cmd(&mut tls, &["PING"]).await.unwrap(), simple("PONG"));
    assert_eq!(server_cn(&tls), b"server");

    // redis-cli --tls (Debian's redis-tools is built with TLS).
    if tool_available("redis-cli") {
        let port = server.tls_addr().port();
        let out = redis_cli(
            port,
            &[
                "--tls",
                "--cacert",
                &pki.dir.path("ca.pem"),
                "--cert",
                &pki.dir.path("client.pem"),
                "--key",
                &pki.dir.path("client.key"),
                "GET",
                "k",
            ],
        )
        .await;
        assert_eq!(out.trim(), "v");
    }

    // The redis crate over TLS (rediss://), with the client certificate.
    let certs = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: client.0.clone().into_bytes(),
            client_key: client.1.clone().into_bytes(),
        }),
        root_cert: Some(pki.ca.pem().into_bytes()),
    };
    let url = format!("rediss://localhost:{}/", server.tls_addr().port());
    let redis_client = redis::Client::build_with_tls(url, certs).unwrap();
    let mut conn = redis_client
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let v: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, "v");
    let _: () = redis::cmd("SET")
        .arg("k2")
        .arg("w")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(plain.cmd(&["GET", "k2"]).await, bulk("w"));
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_or_with_a_wrong_certificate() {
    let pki = Pki::new("mtls");
    let server = TestServer::with_ports(pki.config(0)).await;
    // `--port 0` with a TLS port: no plain TCP at all.
    assert_eq!(server.addr(), server.tls_addr());
    let ca = pki.ca.pem();

    // No certificate: refused in the handshake (TLS 1.3 reports it on the
    // first read).
    let refused = match connect(server.tls_addr(), &ca, None).await {
        Err(_) => true,
        Ok(mut s) => cmd(&mut s, &["PING"]).await.is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");

    // A certificate from another CA: refused too.
    let other = Ca::new("someone else");
    let wrong = other.issue("client");
    let refused = match connect(server.tls_addr(), &ca, Some(&wrong)).await {
        Err(_) => true,
        Ok(mut s) => cmd(&mut s, &["PING"]).await.is_err(),
    };
    assert!(refused, "a certificate from another CA must be refused");

    // Plain RESP on the TLS port gets nowhere either: at most a TLS
    // alert, then the close.
    let mut raw = TcpStream::connect(server.tls_addr()).await.unwrap();
    raw.write_all(b"PING\r\n").await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(PATIENCE, raw.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server closes the connection");
    assert!(!String::from_utf8_lossy(&got).contains("PONG"), "{got:?}");

    // The right certificate works.
    let mut ok_client = connect(server.tls_addr(), &ca, Some(&pki.client()))
        .await
        .unwrap();
    assert_eq!(
        cmd(&mut ok_client, &["PING"]).await.unwrap(),
        simple("PONG")
    );
}

#[tokio::test]
async fn optional_and_no_client_certificates() {
    let pki = Pki::new("optional");
    let mut config = pki.config(0);
    config.tls_auth_clients = TlsAuthClients::Optional;
    let server = TestServer::with_ports(config).await;
    let mut anon = connect(server.tls_addr(), &pki.ca.pem(), None)
        .await
        .unwrap();
    assert_eq!(cmd(&mut anon, &["PING"]).await.unwrap(), simple("PONG"));
    let wrong = Ca::new("other").issue("client");
    let refused = match connect(server.tls_addr(), &pki.ca.pem(), Some(&wrong)).await {
        Err(_) => true,
        Ok(mut s) => cmd(&mut s, &["PING"]).await.is_err(),
    };
    assert!(refused, "optional still checks a certificate that is sent");

    let mut config = pki.config(0);
    config.tls_auth_clients = TlsAuthClients::No;
    config.tls_ca_cert_file = None;
    let server = TestServer::with_ports(config).await;
    let mut anon = connect(server.tls_addr(), &pki.ca.pem(), None)
        .await
        .unwrap();
    assert_eq!(cmd(&mut anon, &["PING"]).await.unwrap(), simple("PONG"));
}

#[tokio::test]
async fn certificates_rotate_while_clients_stay_connected() {
    let pki = Pki::new("rotate");
    let server = TestServer::with_ports(pki.config(0)).await;
    let ca = pki.ca.pem();
    let client = pki.client();
    let mut old = connect(server.tls_addr(), &ca, Some(&client))
        .await
        .unwrap();
    assert_eq!(server_cn(&old), b"server");

    // A new certificate in new files, switched to with CONFIG SET.
    let (cert, key) = pki.ca.issue("server-2");
    let cert_path = pki.dir.write("server-2.pem", &cert);
    let key_path = pki.dir.write("server-2.key", &key);
    let mut admin = connect(server.tls_addr(), &ca, Some(&client))
        .await
        .unwrap();
    // The key first would not match the old certificate: refused, and
    // nothing changes.
    let refused = cmd(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "tls-key-file",
            &key_path.display().to_string(),
        ],
    )
    .await
    .unwrap();
    assert!(refused.is_error(), "{refused:?}");
    assert_eq!(
        cmd(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "tls-cert-file",
                &cert_path.display().to_string(),
                "tls-key-file",
                &key_path.display().to_string(),
            ],
        )
        .await
        .unwrap(),
        ok()
    );
    assert_eq!(
        cmd(&mut admin, &["CONFIG", "GET", "tls-cert-file"])
            .await
            .unwrap(),
        bulks(&["tls-cert-file", &cert_path.display().to_string()])
    );
    let new = connect(server.tls_addr(), &ca, Some(&client))
        .await
        .unwrap();
    assert_eq!(
        server_cn(&new),
        b"server-2",
        "new connections get the new certificate"
    );
    // The old connection keeps working.
    assert_eq!(cmd(&mut old, &["PING"]).await.unwrap(), simple("PONG"));

    // A reload (what SIGHUP does) rereads the same paths.
    let (cert, key) = pki.ca.issue("server-3");
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    server.state().tls.as_ref().unwrap().reload().unwrap();
    let newer = connect(server.tls_addr(), &ca, Some(&client))
        .await
        .unwrap();
    assert_eq!(server_cn(&newer), b"server-3");
    assert_eq!(cmd(&mut old, &["PING"]).await.unwrap(), simple("PONG"));
}

#[tokio::test]
async fn sighup_reloads_the_binarys_certificates() {
    let pki = Pki::new("sighup");
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_redynamo");
    let mut child = tokio::process::Command::new(bin)
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--tls-cert-file", &pki.dir.path("server.pem")])
        .args(["--tls-key-file", &pki.dir.path("server.key")])
        .args(["--tls-ca-cert-file", &pki.dir.path("ca.pem")])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let ca = pki.ca.pem();
    let client = pki.client();
    let mut old = None;
    for _ in 0..200 {
        if let Ok(s) = connect(addr, &ca, Some(&client)).await {
            old = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let mut old = old.expect("the binary serves TLS");
    assert_eq!(server_cn(&old), b"server");
    let (cert, key) = pki.ca.issue("server-hup");
    pki.dir.write("server.pem", &cert);
    pki.dir.write("server.key", &key);
    let pid = child.id().unwrap() as i32;
    assert_eq!(unsafe_free_kill(pid), 0);
    let mut rotated = false;
    for _ in 0..200 {
        let s = connect(addr, &ca, Some(&client)).await.unwrap();
        if server_cn(&s) == b"server-hup" {
            rotated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        rotated,
        "SIGHUP made new connections get the new certificate"
    );
    assert_eq!(cmd(&mut old, &["PING"]).await.unwrap(), simple("PONG"));
    child.kill().await.unwrap();
}

/// SIGHUP to `pid`, through the `kill` tool (the tests forbid unsafe).
fn unsafe_free_kill(pid: i32) -> i32 {
    std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .map(|s| s.code().unwrap_or(1))
        .unwrap_or(1)
}

#[tokio::test]
async fn a_certificates_cn_names_the_acl_user() {
    let pki = Pki::new("cn");
    let mut config = pki.config(0);
    config.requirepass = Some("adminpw".into());
    config.tls_auth_clients_user = TlsAuthUser::Cn;
    let server = TestServer::with_ports(config).await;
    let ca = pki.ca.pem();
    let (cert, key) = pki.ca.issue("svc-orders");
    let svc = (cert, key);

    // Before the user exists, the certificate alone does not log in.
    let mut c = connect(server.tls_addr(), &ca, Some(&svc)).await.unwrap();
    assert_eq!(
        cmd(&mut c, &["GET", "orders:1"]).await.unwrap(),
        err("NOAUTH Authentication required.")
    );
    assert_eq!(cmd(&mut c, &["AUTH", "adminpw"]).await.unwrap(), ok());
    assert_eq!(
        cmd(
            &mut c,
            &[
                "ACL",
                "SETUSER",
                "svc-orders",
                "on",
                "~orders:*",
                "+get",
                "+set"
            ]
        )
        .await
        .unwrap(),
        ok()
    );

    // Now the certificate is the login, and the user's rules apply.
    let mut svc_conn = connect(server.tls_addr(), &ca, Some(&svc)).await.unwrap();
    assert_eq!(
        cmd(&mut svc_conn, &["SET", "orders:1", "x"]).await.unwrap(),
        ok()
    );
    assert_eq!(
        cmd(&mut svc_conn, &["GET", "orders:1"]).await.unwrap(),
        bulk("x")
    );
    assert_eq!(
        cmd(&mut svc_conn, &["GET", "other"]).await.unwrap(),
        err("NOPERM No permissions to access a key")
    );
    let list = cmd(&mut c, &["CLIENT", "LIST"]).await.unwrap().text();
    assert!(list.contains("user=svc-orders"), "{list}");

    // A disabled user's certificate logs nobody in.
    assert_eq!(
        cmd(&mut c, &["ACL", "SETUSER", "svc-orders", "off"])
            .await
            .unwrap(),
        ok()
    );
    let mut off = connect(server.tls_addr(), &ca, Some(&svc)).await.unwrap();
    assert_eq!(
        cmd(&mut off, &["GET", "orders:1"]).await.unwrap(),
        err("NOAUTH Authentication required.")
    );
    // The client certificate's CN that names no user: the default user,
    // who needs a password here.
    let mut anon = connect(server.tls_addr(), &ca, Some(&pki.client()))
        .await
        .unwrap();
    assert_eq!(
        cmd(&mut anon, &["GET", "k"]).await.unwrap(),
        err("NOAUTH Authentication required.")
    );
}
