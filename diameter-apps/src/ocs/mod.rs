//! Online charging: credit-control server and client (RFC 4006/8506, 3GPP Ro/Gy).
