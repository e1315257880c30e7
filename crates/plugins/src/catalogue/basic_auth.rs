//! SimpleBasicAuth: the call must carry `Authorization: Basic` credentials of one of `users`
//! (name → password: as written, or a bcrypt `$2b$...` / argon2 `$argon2id$...` hash); otherwise
//! 401 with `WWW-Authenticate: Basic realm="<realm>"`, as Otoroshi answers. Hashes are checked on
//! the blocking pool, never on the proxy's workers (a hash costs milliseconds on purpose), and a
//! pair once verified is remembered for a minute (as its SHA-256, never in clear).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, gateway_error};

const REMEMBERED: Duration = Duration::from_secs(60);
const MAX_REMEMBERED: usize = 10_000;

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "realm")]
    realm: String,
    #[serde(default)]
    users: BTreeMap<String, String>,
}

fn realm() -> String {
    "authentication".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            realm: realm(),
            users: BTreeMap::new(),
        }
    }
}

enum Password {
    Plain(String),
    Bcrypt(String),
    Argon2(String),
}

struct Inner {
    users: HashMap<String, Password>,
    challenge: HeaderValue,
    /// SHA-256 of `name:password` pairs whose hash matched, and when.
    verified: Mutex<HashMap<[u8; 32], Instant>>,
}

struct BasicAuth(Arc<Inner>);

fn fingerprint(user: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

impl Inner {
    fn refuse(&self, ctx: &RequestCtx) -> Outcome {
        let mut resp = gateway_error(
            StatusCode::UNAUTHORIZED,
            "errors.auth.unauthorized",
            "credentials required",
            ctx.html,
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        Outcome::Respond(resp)
    }

    fn remembered(&self, fp: &[u8; 32]) -> bool {
        let verified = self.verified.lock().expect("verified lock");
        verified.get(fp).is_some_and(|at| at.elapsed() < REMEMBERED)
    }

    fn remember(&self, fp: [u8; 32]) {
        let mut verified = self.verified.lock().expect("verified lock");
        if verified.len() >= MAX_REMEMBERED {
            verified.retain(|_, at| at.elapsed() < REMEMBERED);
        }
        if verified.len() < MAX_REMEMBERED {
            verified.insert(fp, Instant::now());
        }
    }
}

impl Plugin for BasicAuth {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let inner = &self.0;
        let Some((user, password)) = komainu_keys::basic_auth(&req.headers) else {
            return inner.refuse(ctx);
        };
        let hashed = match inner.users.get(&user) {
            Some(Password::Plain(p)) => {
                return if bool::from(p.as_bytes().ct_eq(password.as_bytes())) {
                    Outcome::Continue
                } else {
                    inner.refuse(ctx)
                };
            }
            Some(Password::Bcrypt(h) | Password::Argon2(h)) => h.clone(),
            None => return inner.refuse(ctx),
        };
        let fp = fingerprint(&user, &password);
        if inner.remembered(&fp) {
            return Outcome::Continue;
        }
        let bcrypt = matches!(inner.users.get(&user), Some(Password::Bcrypt(_)));
        let inner = self.0.clone();
        Outcome::Await(Box::pin(async move {
            let matched = tokio::task::spawn_blocking(move || {
                if bcrypt {
                    bcrypt::verify(&password, &hashed).unwrap_or(false)
                } else {
                    use argon2::PasswordVerifier;
                    argon2::PasswordHash::new(&hashed).is_ok_and(|h| {
                        argon2::Argon2::default()
                            .verify_password(password.as_bytes(), &h)
                            .is_ok()
                    })
                }
            })
            .await
            .unwrap_or(false);
            Box::new(move |_req: &mut Parts, ctx: &mut RequestCtx| {
                if matched {
                    inner.remember(fp);
                    Outcome::Continue
                } else {
                    inner.refuse(ctx)
                }
            }) as crate::Resume
        }))
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let challenge =
        HeaderValue::try_from(format!("Basic realm=\"{}\"", cfg.realm.replace('"', "")))
            .map_err(|_| ConfigError::at("realm", "not a valid header value"))?;
    let users = cfg
        .users
        .into_iter()
        .map(|(name, p)| {
            let password =
                if p.starts_with("$2a$") || p.starts_with("$2b$") || p.starts_with("$2y$") {
                    Password::Bcrypt(p)
                } else if p.starts_with("$argon2") {
                    if argon2::PasswordHash::new(&p).map_or(true, |h| h.hash.is_none()) {
                        return Err(ConfigError::at(
                            format!("users.{name}"),
                            "not a valid argon2 hash",
                        ));
                    }
                    Password::Argon2(p)
                } else {
                    Password::Plain(p)
                };
            Ok((name, password))
        })
        .collect::<Result<_, _>>()?;
    Ok(Arc::new(BasicAuth(Arc::new(Inner {
        users,
        challenge,
        verified: Mutex::default(),
    }))))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "SimpleBasicAuth",
    title: "Basic Auth",
    description: "This plugin can be used to protect a route with basic auth. You can use clear text passwords (not recommended for production usage) or bcrypt hashed passwords",
    categories: &["Authentication"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
