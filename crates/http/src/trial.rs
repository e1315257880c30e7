//! Calls the portal makes to the gateway for a developer ("try it"): they come from the gateway's
//! own process, so the proxy would see its own address, which IP allow lists may trust. Each such
//! call carries the developer's address in [`HEADER`], vouched for by a token only this process
//! knows; the proxy takes the developer's address from it, and removes the header from every
//! request, vouched or not, so it never reaches a backend.

use std::net::IpAddr;

use http::{HeaderName, HeaderValue};

/// The header a vouched call carries: `<token> <address>`.
pub const HEADER: HeaderName = HeaderName::from_static("komainu-trial");

/// The token, random per process.
#[derive(Clone)]
pub struct TrialToken(String);

impl std::fmt::Debug for TrialToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrialToken(..)")
    }
}

impl TrialToken {
    /// A token from 32 random bytes.
    pub fn new(random: [u8; 32]) -> TrialToken {
        TrialToken(random.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The header value saying a call is made for `ip`.
    pub fn vouch(&self, ip: IpAddr) -> HeaderValue {
        HeaderValue::try_from(format!("{} {ip}", self.0)).expect("hex and an address")
    }

    /// The address a header value vouches for, if it carries this token.
    pub fn check(&self, value: &HeaderValue) -> Option<IpAddr> {
        let (token, ip) = value.to_str().ok()?.split_once(' ')?;
        let same = token.len() == self.0.len()
            && token
                .bytes()
                .zip(self.0.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same { ip.parse().ok() } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_token_vouches() {
        let t = TrialToken::new([7; 32]);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(t.check(&t.vouch(ip)), Some(ip));
        assert_eq!(TrialToken::new([8; 32]).check(&t.vouch(ip)), None);
        assert_eq!(t.check(&HeaderValue::from_static("x 127.0.0.1")), None);
        assert_eq!(t.check(&HeaderValue::from_static("127.0.0.1")), None);
    }
}
