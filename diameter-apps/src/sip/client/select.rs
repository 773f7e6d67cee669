//! SIP server selection from SIP-Server-Capabilities (RFC 4740 §9.3): the Diameter
//! server names the capabilities a SIP server for the user must (mandatory) or should
//! (optional) have, and possibly suitable servers; the SIP server that received the
//! REGISTER picks one among the SIP servers it knows.

use crate::sip::store::Capabilities;

/// A SIP server the caller could assign the user to, with the capabilities it has (the
/// values are local to the administrative network, RFC 4740 §9.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The server's SIP URI, as in SIP-Server-URI.
    pub uri: String,
    /// The capability values it implements.
    pub capabilities: Vec<u32>,
}

impl Candidate {
    /// A candidate `uri` implementing `capabilities`.
    pub fn new(uri: &str, capabilities: &[u32]) -> Self {
        Candidate {
            uri: uri.to_string(),
            capabilities: capabilities.to_vec(),
        }
    }

    fn has(&self, cap: u32) -> bool {
        self.capabilities.contains(&cap)
    }
}

/// Chooses the SIP server for a user from the candidates the caller knows:
///
/// 1. only candidates with every SIP-Mandatory-Capability;
/// 2. among them, the most SIP-Optional-Capability values matched;
/// 3. on a tie, one the Diameter server named in SIP-Server-URI (in its order);
/// 4. then the caller's order.
///
/// With no capable candidate, the first SIP-Server-URI of the answer (the Diameter
/// server's own suggestion), else `None`.
pub fn choose_server(required: &Capabilities, candidates: &[Candidate]) -> Option<String> {
    let named_rank = |uri: &str| {
        required
            .servers
            .iter()
            .position(|s| s.eq_ignore_ascii_case(uri))
            .unwrap_or(usize::MAX)
    };
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| required.mandatory.iter().all(|m| c.has(*m)))
        .map(|(i, c)| {
            let optional = required.optional.iter().filter(|o| c.has(**o)).count();
            ((std::cmp::Reverse(optional), named_rank(&c.uri), i), c)
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, c)| c.uri.clone())
        .or_else(|| required.servers.first().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(mandatory: &[u32], optional: &[u32], servers: &[&str]) -> Capabilities {
        Capabilities {
            mandatory: mandatory.to_vec(),
            optional: optional.to_vec(),
            servers: servers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn mandatory_capabilities_filter_out_servers() {
        let c = [
            Candidate::new("sip:a", &[2, 3]),
            Candidate::new("sip:b", &[1, 2]),
        ];
        assert_eq!(
            choose_server(&caps(&[1], &[], &[]), &c).as_deref(),
            Some("sip:b")
        );
    }

    #[test]
    fn most_optional_matches_win() {
        let c = [
            Candidate::new("sip:a", &[1, 5]),
            Candidate::new("sip:b", &[1, 5, 6]),
            Candidate::new("sip:c", &[5, 6, 7]),
        ];
        let got = choose_server(&caps(&[1], &[5, 6, 7], &[]), &c);
        assert_eq!(got.as_deref(), Some("sip:b"), "c lacks mandatory 1");
    }

    #[test]
    fn named_server_breaks_a_tie_then_caller_order() {
        let c = [Candidate::new("sip:a", &[1]), Candidate::new("sip:b", &[1])];
        assert_eq!(
            choose_server(&caps(&[1], &[], &["SIP:B"]), &c).as_deref(),
            Some("sip:b")
        );
        assert_eq!(
            choose_server(&caps(&[1], &[], &[]), &c).as_deref(),
            Some("sip:a")
        );
        // A named server with fewer optional matches loses.
        let c = [
            Candidate::new("sip:a", &[1, 9]),
            Candidate::new("sip:b", &[1]),
        ];
        assert_eq!(
            choose_server(&caps(&[1], &[9], &["sip:b"]), &c).as_deref(),
            Some("sip:a")
        );
    }

    #[test]
    fn no_capable_candidate_falls_back_to_the_named_server() {
        let c = [Candidate::new("sip:a", &[])];
        assert_eq!(
            choose_server(&caps(&[1], &[], &["sip:x"]), &c).as_deref(),
            Some("sip:x")
        );
        assert_eq!(choose_server(&caps(&[1], &[], &[]), &c), None);
        assert_eq!(choose_server(&caps(&[], &[], &[]), &[]), None);
    }
}
