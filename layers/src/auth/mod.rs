//! Authentication: refuse commands from a connection that has not
//! authenticated, and check passwords.
//!
//! The connection owns the session and stamps `Request::authenticated` on
//! every request; [`Auth`] only enforces it, so the check costs one branch.
//! Commands flagged `no_auth` in the command table (AUTH, HELLO, QUIT,
//! RESET) always pass. [`Credentials`] is what AUTH and HELLO … AUTH check
//! against; it is shared so that `CONFIG SET requirepass` applies to every
//! connection at once.
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

use std::sync::Arc;
use std::task::{Context, Poll};

use std::sync::RwLock;
use tower_layer::Layer;
use tower_service::Service;

pub use self::future::ResponseFuture;
use crate::command::CommandSpec;
use crate::reply::errors;
use crate::{Reply, Request};

/// The password of the `default` user, if any. Cheap to clone; shared.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    password: Arc<RwLock<Option<String>>>,
}

impl Credentials {
    pub fn new(password: Option<String>) -> Credentials {
        Credentials {
            password: Arc::new(RwLock::new(password.filter(|p| !p.is_empty()))),
        }
    }

    /// Whether connections must authenticate before running commands.
    pub fn required(&self) -> bool {
        self.password.read().map(|p| p.is_some()).unwrap_or(true)
    }

    /// Replace the password (`CONFIG SET requirepass`); empty disables it.
    pub fn set_password(&self, password: Option<String>) {
        if let Ok(mut p) = self.password.write() {
            *p = password.filter(|p| !p.is_empty());
        }
    }

    /// The current password, for `CONFIG GET requirepass`.
    pub fn password(&self) -> Option<String> {
        self.password.read().ok().and_then(|p| p.clone())
    }

    /// Check `AUTH [user] password`. `user` defaults to `default`, the only
    /// user that exists. The reply on failure is Redis' own.
    pub fn verify(&self, user: Option<&[u8]>, password: &[u8]) -> Result<(), Reply> {
        let guard = self.password.read().map_err(|_| errors::WRONGPASS)?;
        let Some(expected) = guard.as_deref() else {
            if user.is_none() {
                return Err(Reply::static_error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                ));
            }
            // With no password, `default` accepts any password (nopass).
            return if user.is_some_and(|u| u == b"default") {
                Ok(())
            } else {
                Err(errors::WRONGPASS)
            };
        };
        let user_ok = user.is_none_or(|u| u == b"default");
        // Compare every byte so the time taken does not reveal how much of
        // the password was right.
        let pass_ok = constant_time_eq(expected.as_bytes(), password);
        if user_ok && pass_ok {
            Ok(())
        } else {
            Err(errors::WRONGPASS)
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

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

    fn call(&mut self, req: Request) -> Self::Future {
        if req.authenticated || permits(self.credentials.required(), false, req.command.spec) {
            ResponseFuture::inner(self.inner.call(req))
        } else {
            ResponseFuture::reply(errors::NOAUTH)
        }
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

    #[test]
    fn verify_texts() {
        let creds = Credentials::new(Some("pw".into()));
        assert!(creds.verify(None, b"pw").is_ok());
        assert!(creds.verify(Some(b"default"), b"pw").is_ok());
        assert_eq!(creds.verify(None, b"nope"), Err(errors::WRONGPASS));
        assert_eq!(creds.verify(Some(b"bob"), b"pw"), Err(errors::WRONGPASS));
        let open = Credentials::new(None);
        assert!(open.verify(None, b"x").expect_err("fails").error_code() == Some("ERR"));
    }
}
