//! What the service element enforces when a service's final units are used up (RFC 8506
//! §5.6.1–§5.6.3).

use diameter::dict::dcca_rfc4006::{FinalUnitAction, FinalUnitIndication, RedirectAddressType};

/// The final-unit action of a service, read from its Final-Unit-Indication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enforcement {
    /// End the service (also for a REDIRECT without Redirect-Server, which the RFC forbids,
    /// and an action this client does not know).
    Terminate,
    /// Send the user's traffic to the redirect server (a top-up page); traffic the filters
    /// permit passes first (RFC 8506 §5.6.2).
    Redirect {
        /// Redirect-Address-Type.
        address_type: RedirectAddressType,
        /// Redirect-Server-Address.
        address: String,
        /// Filters that still pass (Filter-Id, Restriction-Filter-Rule).
        filters: Filters,
    },
    /// Let only the filters' traffic through (RFC 8506 §5.6.3).
    RestrictAccess(Filters),
}

/// The packet filters of a final-unit action.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Filter-Id: names of filter lists configured in the access device.
    pub filter_ids: Vec<String>,
    /// Restriction-Filter-Rule: IPFilterRule text.
    pub rules: Vec<String>,
}

impl Enforcement {
    /// The enforcement an indication asks for.
    pub fn of(fui: &FinalUnitIndication) -> Enforcement {
        let filters = Filters {
            filter_ids: fui.filter_id.iter().map(|f| f.as_str().into()).collect(),
            rules: fui
                .restriction_filter_rule
                .iter()
                .map(|r| r.as_str().into())
                .collect(),
        };
        match fui.final_unit_action {
            FinalUnitAction::Redirect => match &fui.redirect_server {
                Some(r) => Enforcement::Redirect {
                    address_type: r.redirect_address_type,
                    address: r.redirect_server_address.as_str().into(),
                    filters,
                },
                None => Enforcement::Terminate,
            },
            FinalUnitAction::RestrictAccess => Enforcement::RestrictAccess(filters),
            _ => Enforcement::Terminate,
        }
    }

    /// Whether the service ends (TERMINATE), rather than going on restricted.
    pub fn ends_service(&self) -> bool {
        *self == Enforcement::Terminate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter::dict::dcca_rfc4006::RedirectServer;

    #[test]
    fn redirect_without_a_server_terminates() {
        let mut fui = FinalUnitIndication {
            final_unit_action: FinalUnitAction::Redirect,
            ..Default::default()
        };
        assert_eq!(Enforcement::of(&fui), Enforcement::Terminate);
        fui.redirect_server = Some(RedirectServer {
            redirect_address_type: RedirectAddressType::Url,
            redirect_server_address: "https://topup.example.net/".into(),
            ..Default::default()
        });
        fui.filter_id = vec!["free".into()].into();
        assert_eq!(
            Enforcement::of(&fui),
            Enforcement::Redirect {
                address_type: RedirectAddressType::Url,
                address: "https://topup.example.net/".into(),
                filters: Filters {
                    filter_ids: vec!["free".into()],
                    rules: vec![],
                },
            }
        );
        fui.final_unit_action = FinalUnitAction::RestrictAccess;
        assert!(!Enforcement::of(&fui).ends_service());
    }
}
