//! Authentication and ACL permissions: refuse commands from a connection
//! that has not authenticated, and commands its ACL user may not run.
//!
//! The connection owns the session and stamps `Request::authenticated`
//! and `Request::user` on every request; [`Auth`] only enforces them: one
//! branch for authentication, one atomic load for a user allowed
//! everything, and [`acl::check`] (the command's ACL categories and key
//! specs from the command table) for the others. Commands flagged
//! `no_auth` in the command table (AUTH, HELLO, QUIT, RESET) always pass.
//! An EXEC's queued commands are checked again here, as Redis' execCommand
//! does, since the rules may have changed since they were queued: a
//! refused one answers `-NOPERM ACLs rules changed …` in its place in the
//! EXEC reply and the others run. [`Credentials`] (the [`Acl`] registry)
//! is what AUTH and HELLO … AUTH check against; it is shared so that
//! `CONFIG SET requirepass` and ACL SETUSER apply to every connection at
//! once.
//!
//! ```
//! use redynamo_layers::auth::{AuthLayer, Credentials};
//! use tower::ServiceBuilder;
//! # use redynamo_layers::{Reply, Request, BoxError};
//! # let leaf = tower::service_fn(|_req: Request| async { Ok::<_, BoxError>(Reply::ok()) });
//! let credentials = Credentials::new(Some("s3cret".into()));
//! let svc = ServiceBuilder::new()
//!     .layer(AuthLayer::new(credentials.clone()))
//!     .service(leaf);
//! # drop(svc);
//! ```

mod future;

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

pub use self::future::ResponseFuture;
use crate::acl::{self, Context as LogContext};
pub use crate::acl::{Acl, Credentials};
use crate::command::{CommandId, CommandSpec};
use crate::reply::errors;
use crate::{Reply, Request};

/// Whether a connection that is `authenticated` (or not) may run `spec`.
pub fn permits(credentials_required: bool, authenticated: bool, spec: &CommandSpec) -> bool {
    authenticated || !credentials_required || spec.allows_no_auth()
}

/// Applies [`Auth`].
#[derive(Clone, Debug)]
pub struct AuthLayer {
    credentials: Credentials,
}

impl AuthLayer {
    pub fn new(credentials: Credentials) -> AuthLayer {
        AuthLayer { credentials }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            credentials: self.credentials.clone(),
        }
    }
}

/// Answers `-NOAUTH` to unauthenticated requests instead of calling the
/// inner service.
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    credentials: Credentials,
}

impl<S> Service<Request> for Auth<S>
where
    S: Service<Request, Response = Reply>,
{
    type Response = Reply;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if !req.authenticated && !permits(self.credentials.required(), false, req.command.spec) {
            return ResponseFuture::reply(errors::NOAUTH);
        }
        let Some(user) = req.user.as_ref().filter(|u| !u.is_unrestricted()) else {
            return ResponseFuture::inner(self.inner.call(req), Vec::new());
        };
        let spec = req.command.spec;
        if let Err(reply) = self.credentials.enforce(
            user,
            spec,
            &req.command.args,
            &req.client,
            LogContext::Toplevel,
        ) {
            return ResponseFuture::reply(reply);
        }
        // EXEC: the queue again, as the rules may have changed since.
        let mut refused = Vec::new();
        if spec.id == CommandId::Exec && !req.transaction.is_empty() {
            let user = user.clone();
            let mut i = 0;
            req.transaction.retain(|cmd| {
                let at = i;
                i += 1;
                match acl::check(&user, cmd.spec, &cmd.args) {
                    Ok(()) => true,
                    Err(d) => {
                        self.credentials.record_denial(
                            &user,
                            cmd.spec,
                            &cmd.args,
                            d,
                            &req.client,
                            LogContext::Multi,
                        );
                        refused.push((at, Reply::error(format!(
                            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
                            d.message(&user, cmd.spec, &cmd.args, false)
                        ))));
                        false
                    }
                }
            });
        }
        ResponseFuture::inner(self.inner.call(req), refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::COMMANDS;
    use tower::ServiceExt;

    fn request(name: &str, authenticated: bool) -> Request {
        let mut req = Request::from_line(&[name, "k"]).expect("valid command");
        req.authenticated = authenticated;
        req
    }

    #[tokio::test]
    async fn refuses_unauthenticated_and_passes_authenticated() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let creds = Credentials::new(Some("pw".into()));
        let mut svc = AuthLayer::new(creds).layer(mock);

        let reply = svc
            .ready()
            .await
            .expect("test step")
            .call(request("get", false))
            .await
            .expect("test step");
        assert_eq!(reply, errors::NOAUTH);

        let fut = svc
            .ready()
            .await
            .expect("test step")
            .call(request("get", true));
        let (req, send) = handle.next_request().await.expect("test step");
        assert_eq!(req.command.spec.name, "get");
        send.send_response(Reply::ok());
        assert_eq!(fut.await.expect("test step"), Reply::ok());
        assert!(!COMMANDS.is_empty());
    }

    #[tokio::test]
    async fn no_password_means_no_check() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let mut svc = AuthLayer::new(Credentials::new(None)).layer(mock);
        let fut = svc
            .ready()
            .await
            .expect("test step")
            .call(request("get", false));
        let (_req, send) = handle.next_request().await.expect("test step");
        send.send_response(Reply::Null);
        assert_eq!(fut.await.expect("test step"), Reply::Null);
    }

    #[tokio::test]
    async fn refuses_what_the_acl_user_may_not_run() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let acl = Credentials::new(None);
        let rules: Vec<bytes::Bytes> = ["on", "nopass", "+get", "~a*"]
            .iter()
            .map(|s| bytes::Bytes::from_static(s.as_bytes()))
            .collect();
        acl.set_user(b"bob", &rules).expect("valid rules");
        let bob = acl.user(b"bob").expect("created");
        let mut svc = AuthLayer::new(acl).layer(mock);
        let mut req = Request::from_line(&["set", "k", "v"]).expect("valid");
        req.user = Some(bob.clone());
        let reply = svc
            .ready()
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("reply");
        assert_eq!(
            reply,
            Reply::error("NOPERM User bob has no permissions to run the 'set' command")
        );
        let mut req = request("get", true);
        req.user = Some(bob.clone());
        let reply = svc
            .ready()
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("reply");
        assert_eq!(reply, Reply::error("NOPERM No permissions to access a key"));
        let mut req = Request::from_line(&["get", "a1"]).expect("valid");
        req.user = Some(bob);
        let fut = svc.ready().await.expect("ready").call(req);
        let (_req, send) = handle.next_request().await.expect("passed");
        send.send_response(Reply::Null);
        assert_eq!(fut.await.expect("reply"), Reply::Null);
    }
}
