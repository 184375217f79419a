//! The common name in a certificate's subject: the thing a device certificate speaks for
//! (`jobcert pki issue` puts the thing name there, as AWS IoT's own examples do).

use rustls_pki_types::CertificateDer;

/// DER tags met on the way.
const SET: u8 = 0x31;
const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
/// `2.5.4.3`, id-at-commonName.
const COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];

/// The subject's common name of `cert`, when it has one written as text.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let cert = webpki::EndEntityCert::try_from(cert).ok()?;
    name_common_name(cert.subject())
}

/// The common name in the contents of a DER `Name` (its outer SEQUENCE already removed).
fn name_common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (set, rest) = element(name, SET)?;
        name = rest;
        let mut attributes = set;
        while !attributes.is_empty() {
            let (attribute, rest) = element(attributes, SEQUENCE)?;
            attributes = rest;
            let (oid, value) = element(attribute, OID)?;
            if oid != COMMON_NAME {
                continue;
            }
            let (&tag, _) = value.split_first()?;
            if ![UTF8_STRING, PRINTABLE_STRING, IA5_STRING].contains(&tag) {
                return None;
            }
            let (text, _) = element(value, tag)?;
            return String::from_utf8(text.to_vec()).ok();
        }
    }
    None
}

/// The contents of the element tagged `tag` at the start of `der`, and what follows it.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = der.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let bytes = usize::from(first & 0x7f);
        if bytes == 0 || bytes > 4 || rest.len() < bytes {
            return None;
        }
        let (digits, after) = rest.split_at(bytes);
        rest = after;
        digits
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b))
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AttributeTypeAndValue of `oid` = `text` in a SET of its own.
    fn rdn(oid: &[u8], tag: u8, text: &[u8]) -> Vec<u8> {
        let mut attribute = vec![OID, oid.len() as u8];
        attribute.extend_from_slice(oid);
        attribute.extend([tag, text.len() as u8]);
        attribute.extend_from_slice(text);
        let mut sequence = vec![SEQUENCE, attribute.len() as u8];
        sequence.extend(attribute);
        let mut set = vec![SET, sequence.len() as u8];
        set.extend(sequence);
        set
    }

    const ORGANISATION: [u8; 3] = [0x55, 0x04, 0x0a];

    #[test]
    fn the_common_name_is_found_wherever_it_stands() {
        let cn = rdn(&COMMON_NAME, UTF8_STRING, b"thing-1");
        let org = rdn(&ORGANISATION, PRINTABLE_STRING, b"jobcert");
        for (name, expected) in [
            (cn.clone(), Some("thing-1")),
            ([org.clone(), cn.clone()].concat(), Some("thing-1")),
            (org.clone(), None),
            (Vec::new(), None),
            (rdn(&COMMON_NAME, PRINTABLE_STRING, b"x"), Some("x")),
            (rdn(&COMMON_NAME, 0x1e, b"\0x"), None),
            (cn[..cn.len() - 1].to_vec(), None),
        ] {
            assert_eq!(name_common_name(&name).as_deref(), expected, "{name:02x?}");
        }
    }

    #[test]
    fn long_lengths_are_read_and_lengths_past_the_end_refused() {
        let mut long = vec![OID, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(
            element(&long, OID).map(|(v, r)| (v.len(), r.len())),
            Some((0x80, 0))
        );
        assert_eq!(element(&[OID, 0x82, 0x01], OID), None);
        assert_eq!(element(&[OID, 0x05, 1, 2], OID), None);
        assert_eq!(element(&[SET, 0x00], OID), None);
    }
}
