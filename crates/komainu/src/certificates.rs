//! The certificates of a first start: with none stored, a root CA and a default certificate for
//! `localhost` (signed by it) are generated and stored, and `tlsSettings.defaultDomain` set to
//! `localhost`, so that HTTPS answers at once, as Otoroshi's first start does. The CA's PEM is
//! what a client trusts: `GET /api/certificates/komainu-default-ca`.

use komainu_model::{GLOBAL_CONFIG_ID, Kind};
use komainu_store::{Op, Store};
use komainu_tls::pki::{CertRequest, KeySpec, self_signed, signed_by};
use serde_json::{Value, json};

pub const DEFAULT_CA: &str = "komainu-default-ca";
pub const DEFAULT_CERT: &str = "komainu-default-cert";

const TEN_YEARS_MS: i64 = 10 * 365 * 24 * 3_600_000;
const ONE_YEAR_MS: i64 = 365 * 24 * 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn document(
    id: &str,
    name: &str,
    chain: String,
    key: String,
    ca_ref: Option<&str>,
) -> anyhow::Result<Value> {
    let mut doc = json!({"id": id, "name": name, "description": "generated at first start",
                         "chain": chain, "privateKey": key, "caRef": ca_ref,
                         "metadata": {"komainu-generated": "first start"}});
    komainu_tls::describe_certificate(&mut doc, now_ms())
        .map_err(|e| anyhow::anyhow!("generated certificate {id} unreadable: {e:?}"))?;
    let refs = Everything;
    komainu_model::prepare(Kind::Certificate, doc, &refs)
        .map_err(|e| anyhow::anyhow!("generated certificate {id} refused: {e:?}"))
}

/// Every reference exists: the generated documents refer to each other only.
struct Everything;

impl komainu_model::Refs for Everything {
    fn exists(&self, _: Kind, _: &str) -> bool {
        true
    }
}

/// Generates and stores the default CA and certificate when no certificate is stored.
pub async fn ensure_default(store: &dyn Store) -> anyhow::Result<()> {
    if !store.list(Kind::Certificate).await?.is_empty() {
        return Ok(());
    }
    let key = KeySpec {
        algo: "ecdsa".into(),
        size: 256,
    };
    let ca = self_signed(&CertRequest {
        hosts: Vec::new(),
        subject: Some("CN=Komainu Default Root CA, O=Komainu".into()),
        client: false,
        ca: true,
        duration_ms: TEN_YEARS_MS,
        key: key.clone(),
    })
    .map_err(|e| anyhow::anyhow!("cannot generate the default CA: {e}"))?;
    let leaf = signed_by(
        &CertRequest {
            hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            subject: Some("CN=localhost, O=Komainu".into()),
            client: false,
            ca: false,
            duration_ms: ONE_YEAR_MS,
            key,
        },
        &ca.chain,
        &ca.key,
    )
    .map_err(|e| anyhow::anyhow!("cannot generate the default certificate: {e}"))?;
    let mut ops = vec![
        Op::Put {
            kind: Kind::Certificate,
            id: DEFAULT_CA.into(),
            doc: document(
                DEFAULT_CA,
                "Komainu Default Root CA",
                ca.chain,
                ca.key,
                None,
            )?,
        },
        Op::Put {
            kind: Kind::Certificate,
            id: DEFAULT_CERT.into(),
            doc: document(
                DEFAULT_CERT,
                "localhost",
                leaf.chain,
                leaf.key,
                Some(DEFAULT_CA),
            )?,
        },
    ];
    if store
        .get(Kind::GlobalConfig, GLOBAL_CONFIG_ID)
        .await?
        .is_none()
    {
        ops.push(Op::Put {
            kind: Kind::GlobalConfig,
            id: GLOBAL_CONFIG_ID.into(),
            doc: komainu_model::prepare(
                Kind::GlobalConfig,
                json!({"id": GLOBAL_CONFIG_ID, "tlsSettings": {"defaultDomain": "localhost"}}),
                &Everything,
            )
            .map_err(|e| anyhow::anyhow!("default global configuration refused: {e:?}"))?,
        });
    }
    store.apply(ops).await?;
    tracing::info!(
        ca = DEFAULT_CA,
        certificate = DEFAULT_CERT,
        "no certificate was stored: generated a root CA and a certificate for localhost; trust the CA (GET /api/certificates/{DEFAULT_CA}, field chain) or store your own certificates"
    );
    Ok(())
}
