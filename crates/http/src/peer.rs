//! The client certificates a TLS connection presented and the listener verified (mTLS), as the
//! plugins read them.

/// One certificate of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Distinguished names as Otoroshi prints them ([`dn`]), so that Otoroshi's patterns match.
    pub subject: String,
    pub issuer: String,
    /// Hex, lower case, no leading zeros.
    pub serial: String,
    pub sans: Vec<String>,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub der: Vec<u8>,
}

/// The verified chain, leaf first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerChain(pub Vec<PeerCertificate>);

impl PeerChain {
    pub fn leaf(&self) -> Option<&PeerCertificate> {
        self.0.first()
    }
}

/// A distinguished name (`CN=alice, O=acme`, in any order) in Otoroshi's form: attribute names upper
/// case, sorted by name in descending order (equal names keep their order), `, ` between them:
/// `O=acme, CN=alice`. Otoroshi matches its `subject_dns` and `regex_subject_dns` against this
/// form, so patterns written for it work unchanged.
pub fn dn(raw: &str) -> String {
    let mut parts: Vec<(String, &str)> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            let name = name.trim().to_ascii_lowercase();
            let name = if name == "sn" { "surname".into() } else { name };
            (name, value.trim())
        })
        .collect();
    parts.sort_by(|a, b| b.0.cmp(&a.0));
    let mut out = String::with_capacity(raw.len() + 4);
    for (i, (name, value)) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&name.to_ascii_uppercase());
        out.push('=');
        out.push_str(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dn;

    #[test]
    fn names_sort_descending_in_upper_case() {
        assert_eq!(dn("CN=alice, O=acme, C=FR"), "O=acme, CN=alice, C=FR");
        assert_eq!(dn("cn=alice,ou=b,ou=a"), "OU=b, OU=a, CN=alice");
        assert_eq!(dn("O=acme, CN=alice"), dn("CN=alice,O=acme"));
        assert_eq!(dn(""), "");
    }
}
