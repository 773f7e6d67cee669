#!/usr/bin/env python3
"""Generator for dictionaries/tgpp_ts32299.xml (3GPP TS 32.299 Ro/Gy charging AVPs).

THE XML IS THE SOURCE OF TRUTH ONCE COMMITTED. This script only records how the
first version of tgpp_ts32299.xml was derived from the reference data in
../shared/specs (relative to the repository root); hand edits to the XML are
expected and are NOT carried back here. Re-running it overwrites the XML, so diff
before committing anything it produces.

It reads only the reference data under ../shared/specs:
  * freediameter-csv/dict_dcca_3gpp.csv   -- AVP table per 3GPP spec; the
    "3GPP TS 32.299" section is TS 32.299 V15.7.0 Table 7.2.0.1 (415 AVPs)
  * freediameter-csv/diameter-rfcs.csv    -- RFC 4005 (NASREQ) vendor-0 AVPs
  * ergw-aaa-dia/*.dia                    -- grouped grammars, enum values, Ro CCR/CCA
  * wireshark-dictionary/*.xml            -- enum values, cross-check of types
  * extracted/rfc-avps.csv                -- names defined by base_rfc6733 / dcca_rfc4006
and writes ../tgpp_ts32299.xml (next to this tools/ folder).

Facts that none of those files carry (a few grammars, two enum lists, the
choice between disagreeing sources) are written below as data, each with the
source it came from; tgpp_ts32299.decisions.md explains every choice.

Usage:  python3 gen_tgpp_ts32299.py [--specs DIR] [--out FILE] [--report]
"""

import argparse
import csv
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SPECS = os.path.normpath(os.path.join(REPO, '..', 'shared', 'specs'))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), 'tgpp_ts32299.xml')

TGPP, ETSI, TGPP2 = 10415, 13019, 5535
VENDOR_NAMES = {TGPP: '3GPP', ETSI: 'ETSI', TGPP2: '3GPP2'}
TS32299 = '3GPP TS 32.299'

# --------------------------------------------------------------------------
# Decisions expressed as data (see tgpp_ts32299.decisions.md)
# --------------------------------------------------------------------------

# Names chosen for TS 32.299 codes where the CSV name is not used.
NAME_BY_CODE = {
    1232: 'LCS-Client-ID',            # CSV LCS-Client-Id; .dia + Wireshark LCS-Client-ID
    1301: 'RAN-End-Timestamp',        # CSV RAN-End-Time; .dia + Wireshark + grammar use
    1303: 'RAN-Start-Timestamp',      # CSV RAN-Start-Time; .dia + Wireshark + grammar use
    4406: '3GPP-PS-Data-Off-Status',  # CSV renamed it "-32.299" to dodge TS 29.212 code 2847
}

# Spellings used by grammar sources -> the name defined in this dictionary.
ALIASES = {
    'LCS-Client-Id': 'LCS-Client-ID',
    'RAN-End-Time': 'RAN-End-Timestamp',
    'RAN-Start-Time': 'RAN-Start-Timestamp',
    '3GPP-PS-Data-Off-Status-32.299': '3GPP-PS-Data-Off-Status',
    'PoC-Session-Initiation-Type': 'PoC-Session-Initiation-type',
    'ePDG-Address': 'EPDG-Address',
    'Monitored-HPLMN-Identifier': 'Monitored-PLMN-Identifier',
    'Prose-Function-PLMN-Identifier': 'ProSe-Function-PLMN-Identifier',
    'VASP-Id': 'VASP-ID',
    'VAS-Id': 'VAS-ID',
}

# Grammar members no source defines: left out, the parent gets <any/>.
UNRESOLVABLE = {
    'TP-Previous-PS-Information': 'only in the commented ergw_aaa Service-Information; not in the V15.7.0 table or any other source',
    'M2M-Information': 'oneM2M TS-0004 AVP (vendor 45687); no source here defines it',
    'Network-Element': 'named in the Rel-17 Exposure-Function-API-Information grammar; no source defines it',
}

# Members added to .dia grammars (position: after the named member, or None = first).
GRAMMAR_ADDITIONS = {
    # freeDiameter dict_dcca_3gpp.c (TS 32.299 V15.7.0) starts PS-Information with *[Supported-Features]
    'PS-Information': [(None, ('optional', 'Supported-Features', 0, '*'))],
    # TS 32.299 TWAN-/UWAN-User-Location-Info carry the WLAN operator / civic address
    # (V15.7.0 table AVPs 1305-1308 that no .dia grammar references); member lists as in
    # corsac-diameter's transcription of the clauses.
    'TWAN-User-Location-Info': [('BSSID', ('optional', 'Civic-Address-Information', 0, 1)),
                                ('Civic-Address-Information', ('optional', 'WLAN-Operator-Id', 0, 1)),
                                ('WLAN-Operator-Id', ('optional', 'Logical-Access-ID', 0, 1))],
}

# Grammars for TS 32.299 grouped AVPs the .dia lacks, and for grouped AVPs of
# other specs. Entries: (kind, avp, min, max); ('any',) = *[ AVP ].
def _o(a, mx=1):
    return ('optional', a, 0, mx)


def _r(a):
    return ('required', a, 1, 1)


ANY = ('any',)
EXTRA_GROUPED = {
    # TS 32.299 Annex B.2.3 (grammar as in corsac-diameter's transcription)
    '3GPP-OC-Specific-Reduction': ([_o('3GPP-OC-Rating-Group', '*'), _o('3GPP-OC-Request-Type', '*'),
                                    _o('OC-Reduction-Percentage'), ANY],
                                   'TS 32.299 Annex B.2.3 (via corsac-diameter)'),
    # TS 32.299 7.2.66aA; Network-Element left out (undefined) -> <any/>
    'Exposure-Function-API-Information': ([_o('Supported-Features', '*'), _o('API-Content'), _o('API-Direction'),
                                           _o('API-Identifier'), _o('API-Invocation-Timestamp'),
                                           _o('API-Network-Service-Node'), _o('API-Result-Code'), _o('API-Size'),
                                           _o('SCEF-Address'), _o('SCS-AS-Address'), _o('TLTRI'), ANY],
                                          'TS 32.299 7.2.66aA (via corsac-diameter)'),
    'WLAN-Operator-Id': ([_o('WLAN-PLMN-Id'), _o('WLAN-Operator-Name')],
                         'TS 32.299 7.2.251 (via corsac-diameter)'),
    # ---- other specifications (bounded: members needed here, then <any/>) ----
    'QoS-Information': ([_o('QoS-Class-Identifier'), _o('Max-Requested-Bandwidth-UL'),
                         _o('Max-Requested-Bandwidth-DL'), _o('Extended-Max-Requested-BW-UL'),
                         _o('Extended-Max-Requested-BW-DL'), _o('Guaranteed-Bitrate-UL'),
                         _o('Guaranteed-Bitrate-DL'), _o('Extended-GBR-UL'), _o('Extended-GBR-DL'),
                         _o('Bearer-Identifier'), _o('Allocation-Retention-Priority'),
                         _o('APN-Aggregate-Max-Bitrate-UL'), _o('APN-Aggregate-Max-Bitrate-DL'),
                         _o('Extended-APN-AMBR-UL'), _o('Extended-APN-AMBR-DL'),
                         _o('Conditional-APN-Aggregate-Max-Bitrate', '*'), ANY],
                        'TS 29.212 §5.3.16 (member list from freeDiameter dict_dcca_3gpp.c, V15.9.0)'),
    'Allocation-Retention-Priority': ([_r('Priority-Level'), _o('Pre-emption-Capability'),
                                       _o('Pre-emption-Vulnerability')],
                                      'TS 29.212 §5.3.32 (freeDiameter dict_dcca_3gpp.c)'),
    'Conditional-APN-Aggregate-Max-Bitrate': ([_o('APN-Aggregate-Max-Bitrate-UL'), _o('APN-Aggregate-Max-Bitrate-DL'),
                                               _o('Extended-APN-AMBR-UL'), _o('Extended-APN-AMBR-DL'),
                                               _o('IP-CAN-Type', '*'), _o('RAT-Type', '*'), ANY],
                                              'TS 29.212 §5.3.105'),
    'Flows': ([_r('Media-Component-Number'), _o('Flow-Number', '*'), _o('Content-Version', '*'),
               _o('Final-Unit-Action'), _o('Media-Component-Status'), ANY], 'TS 29.214 §5.3.10'),
    'Presence-Reporting-Area-Information': ([_o('Presence-Reporting-Area-Identifier'),
                                             _o('Presence-Reporting-Area-Status'),
                                             _o('Presence-Reporting-Area-Elements-List'),
                                             _o('Presence-Reporting-Area-Node'), ANY], 'TS 29.212 §5.3.109'),
    'Fixed-User-Location-Info': ([_o('SSID'), _o('BSSID'), _o('Logical-Access-ID'), _o('Physical-Access-ID'), ANY],
                                 'TS 29.212 §5.3.112'),
    'Terminal-Information': ([_o('IMEI'), _o('3GPP2-MEID'), _o('Software-Version'), ANY], 'TS 29.272 §7.3.3'),
    'Serving-PLMN-Rate-Control': ([_o('Uplink-Rate-Limit'), _o('Downlink-Rate-Limit'), ANY], 'TS 29.128'),
    'RRC-Cause-Counter': ([_o('Counter-Value'), _o('RRC-Counter-Timestamp'), ANY], 'TS 29.128'),
    'Server-Capabilities': ([_o('Mandatory-Capability', '*'), _o('Optional-Capability', '*'),
                             _o('Server-Name', '*'), ANY], 'TS 29.229 §6.3.4'),
    'Supported-Features': ([_r('Vendor-Id'), _r('Feature-List-ID'), _r('Feature-List'), ANY], 'TS 29.229 §6.3.29'),
    'UE-Reachability-Configuration': ([_o('Reachability-Type'), _o('Maximum-Response-Time'), ANY], 'TS 29.336'),
    # deep grouped AVPs of other specs: grammar not transcribed, members kept raw
    'EPS-Location-Information': ([ANY], None),
    'Communication-Failure-Information': ([ANY], None),
    'Number-Of-UE-Per-Location-Configuration': ([ANY], None),
    'Number-Of-UE-Per-Location-Report': ([ANY], None),
    'Serving-Node': ([ANY], None),
    # OMA DDS Charging Data grammars (freeDiameter dict_dcca_3gpp.c)
    'Service-Generic-Information': ([_o('Application-Server-Id'), _o('Application-Service-Type'),
                                     _o('Application-Session-Id'), _o('Delivery-Status')], 'OMA DDS Charging Data §8.5.10'),
    'IM-Information': ([_o('Total-Number-Of-Messages-Sent'), _o('Total-Number-Of-Messages-Exploded'),
                        _o('Number-Of-Messages-Successfully-Sent'), _o('Number-Of-Messages-Successfully-Exploded')],
                       'OMA DDS Charging Data §8.5.6'),
    'DCD-Information': ([_o('Content-ID'), _o('Content-provider-ID')], 'OMA DDS Charging Data §8.5.5'),
}

# AVPs not referenced by any grammar here, included because the task names them.
EXTRA_AVPS = ['Framed-IP-Address', 'Framed-IPv6-Prefix', 'SIP-Forking-Indication']

# Enum values no saved source lists (found in corsac-diameter's clause transcriptions).
EXTRA_ENUMS = {
    '3GPP-OC-Request-Type': [('INITIAL_REQUEST', 1), ('UPDATE_REQUEST', 2), ('TERMINATION_REQUEST', 3),
                             ('EVENT_REQUEST', 4)],
    'API-Network-Service-Node': [('MME', 0), ('SGSN', 1), ('HSS', 2), ('PCRF', 3), ('PFDF', 4), ('BMSC', 5),
                                 ('CSCF', 6), ('RCAF', 7)],
}

# Enum labels rewritten where the source label does not make a good identifier.
ENUM_NAME_OVERRIDES = {
    ('Status-AS-Code', 0): 'STATUS_4XX',
    ('Status-AS-Code', 1): 'STATUS_5XX',
    ('Status-AS-Code', 2): 'TIMEOUT',
    ('ProSe-Range-Class', 0): 'RESERVED',
    ('ProSe-Range-Class', 1): 'RANGE_50_M',
    ('ProSe-Range-Class', 2): 'RANGE_100_M',
    ('ProSe-Range-Class', 3): 'RANGE_200_M',
    ('ProSe-Range-Class', 4): 'RANGE_500_M',
    ('ProSe-Range-Class', 5): 'RANGE_1000_M',
    ('PoC-Session-Type', 0): 'ONE_TO_ONE_POC_SESSION',
    ('ProSe-Event-Type', 0): 'ANNOUNCING',  # .dia typo "Annoucing"
    ('PoC-Event-Type', 3): 'EARLY_SESSION_SETTING_UP_EVENT',  # .dia typo "Ssession"
    ('Type-Number', 14): 'MULTIPART_BYTERANGES',  # Wireshark typo "byterantes"
    ('Trigger-Type', 50): 'CHANGE_IN_PARTICIPANTS_NMB',
    ('PoC-Change-Condition', 3): 'NUMBER_OF_TALK_BURST_LIMIT',  # "NumberofTalkBurstLimit"
    ('PoC-Change-Condition', 4): 'NUMBER_OF_ACTIVE_PARTICIPANTS',
    ('MBMS-2G-3G-Indicator', 0): 'TWO_G',
    ('MBMS-2G-3G-Indicator', 1): 'THREE_G',
    ('MBMS-2G-3G-Indicator', 2): 'TWO_G_AND_THREE_G',
    ('SM-Device-Trigger-Indicator', 0): 'NOT_DEVICE_TRIGGER',  # "Not-DeviceTrigger"
}

# Enum values a source lists that are not used (bad data).
ENUM_DROP = {
    'Role-Of-ProSe-Function': 'ws',  # Wireshark gives all three labels the value 0
}

# A grammar that loses UNRESOLVABLE members gets a trailing <any/> (computed in build()).

# 3GPP additions to RFC 4006/8506 definitions (diameter_3gpp_ts32_299_ro.dia vs
# diameter_rfc4006_cc.dia; CCA Low-Balance-Indication/Remaining-Balance from
# freeDiameter dict_dcca_3gpp.c, TS 32.299 V15.7.0 §6.4.3).
CCR_ADD = [_o('AoC-Request-Type'), _o('Service-Information')]
CCA_ADD = [_o('Low-Balance-Indication'), _o('Remaining-Balance'), _o('Service-Information')]


# --------------------------------------------------------------------------
# Source readers
# --------------------------------------------------------------------------

def norm_flags(cell):
    return set(x for x in re.split(r'[,\s]+', cell.strip()) if x) if cell else set()


def norm_flags_vm(cell):
    s = norm_flags(cell)
    if s == {'VM'}:  # CSV typo (Target-IP-Address 4412)
        s = {'V', 'M'}
    return s


def load_fd_csv(path):
    rows, std, vendor, notes = [], None, None, []
    with open(path, newline='', encoding='utf-8') as f:
        for r in csv.reader(f):
            if not r or not any(c.strip() for c in r):
                notes = []
                continue
            c0 = r[0].strip()
            if c0.startswith('#'):
                n = c0.lstrip('#').strip()
                if n and n != '=':
                    notes.append(n)
                continue
            if c0 == '@vendor':
                vendor = int(r[1])
                continue
            if c0 == '@standard':
                std, notes = r[1].strip(), []
                continue
            if c0 in ('Attribute Name',):
                continue
            rows.append(dict(name=c0, code=int(r[1]), section=r[2].replace(' ', ''), type=r[3].strip(),
                             must=norm_flags_vm(r[4]), may=norm_flags(r[5]), mustnot=norm_flags(r[7]),
                             std=std, vendor=vendor, notes=notes))
            notes = []
    return rows


def parse_dia(path):
    sec, cur = None, None
    out = dict(avp_types={}, grouped={}, enum={}, messages={})
    for raw in open(path, encoding='utf-8'):
        s = raw.strip()
        if s.startswith('@'):
            parts = s.split()
            sec = parts[0][1:]
            cur = parts[1] if len(parts) > 1 else None
            if sec == 'enum':
                out['enum'][cur] = []
            continue
        commented = s.startswith(';;')
        if commented:
            s = s[2:].strip()
        s = re.sub(r';;.*', '', s).strip()
        if not s:
            continue
        if sec == 'avp_types':
            p = s.split()
            if len(p) >= 4 and p[1].isdigit():
                out['avp_types'][p[0]] = dict(code=int(p[1]), type=p[2], flags=p[3], commented=commented)
        elif sec in ('grouped', 'messages'):
            m = re.match(r'([\w-]+)\s*::=\s*<\s*(?:AVP|Diameter) Header:\s*([^>]*)>', s)
            if m:
                cur = m.group(1)
                out[sec][cur] = dict(hdr=m.group(2).strip(), entries=[], commented=commented)
                continue
            if cur is None or cur not in out[sec]:
                continue
            for em in re.finditer(r'(\d*\*\d*)?\s*([<{\[])\s*([\w-]+)\s*[>}\]]', s):
                out[sec][cur]['entries'].append(dict(q=(em.group(1) or ''), kind=em.group(2),
                                                     avp=em.group(3), commented=commented))
        elif sec == 'enum' and not commented:
            p = s.split()
            if len(p) == 2 and re.fullmatch(r'-?\d+', p[1]):
                out['enum'][cur].append((p[0], int(p[1])))
    return out


WS_VENDORS = {'TGPP': TGPP, None: 0, 'ETSI': ETSI, 'TGPP2': TGPP2}


def load_wireshark(d):
    avps = {}
    for f in sorted(glob.glob(os.path.join(d, '*.xml'))):
        t = open(f, encoding='utf-8', errors='replace').read()
        t = re.sub(r'<\?xml[^>]*\?>', '', t)
        t = re.sub(r'<!DOCTYPE.*?\]>', '', t, flags=re.S)
        t = re.sub(r'&\w+;', '', t)
        root = ET.fromstring('<root>' + t + '</root>')
        for a in root.iter('avp'):
            vid = a.get('vendor-id')
            if vid not in WS_VENDORS:
                continue
            ty, g = a.find('type'), a.find('grouped')
            avps[(WS_VENDORS[vid], int(a.get('code')))] = dict(
                name=a.get('name').strip(),
                type=ty.get('type-name') if ty is not None else ('Grouped' if g is not None else None),
                enums=[(e.get('name'), int(e.get('code'))) for e in a.findall('enum')],
                gavps=[x.get('name') for x in g.findall('gavp')] if g is not None else None)
    return avps


def load_rfc_names(path):
    names = {}
    with open(path, newline='', encoding='utf-8') as f:
        for r in csv.DictReader(f):
            if r['spec'] in ('RFC 6733', 'RFC 4006', 'RFC 8506'):
                names[r['avp_name']] = int(r['avp_code'])
    return names


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def upper_snake(label):
    """Source enum label -> UPPER_SNAKE_CASE identifier."""
    s = label.strip().replace('*', 'ANY').replace('+', '_')
    s = re.sub(r'^3GPP', 'TGPP', s)
    if re.fullmatch(r'[A-Z][A-Za-z0-9]*', s) and re.search(r'[a-z]', s):
        s = re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', s)  # CamelCase -> Camel_Case
    s = re.sub(r'[^A-Za-z0-9]+', '_', s).strip('_').upper()
    if s and s[0].isdigit():
        s = 'VALUE_' + s
    return s


WS_TYPE_NORM = {'IPAddress': 'Address', 'AppId': 'Unsigned32', 'VendorId': 'Unsigned32',
                'OctetStringOrUTF8': 'OctetString'}

RELEASE_RE = re.compile(r'V(\d+)\.\d+\.\d+ \(\d{4}-\d\d\)(?: CR \d+)? added ([\w.-]+) \((\d+)\)')


def release_from_notes(row):
    for n in row['notes']:
        m = RELEASE_RE.search(n)
        if m and int(m.group(3)) == row['code'] and int(m.group(1)) > 12:
            return 'Rel-%s' % m.group(1)
    return None


class Avp:
    def __init__(self, name, code, vendor, type_, must, may, spec, origin):
        self.name, self.code, self.vendor, self.type = name, code, vendor, type_
        self.must, self.may, self.spec, self.origin = must, may, spec, origin
        self.release = None
        self.enums = []          # (name, value, doc)
        self.grammar = None      # list of entries
        self.grammar_src = None
        self.notes = []


# --------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------

def build(specs):
    rows = load_fd_csv(os.path.join(specs, 'freediameter-csv', 'dict_dcca_3gpp.csv'))
    rfc_rows = load_fd_csv(os.path.join(specs, 'freediameter-csv', 'diameter-rfcs.csv'))
    dia = parse_dia(os.path.join(specs, 'ergw-aaa-dia', 'diameter_3gpp_ts32_299.dia'))
    dia_base = parse_dia(os.path.join(specs, 'ergw-aaa-dia', 'diameter_3gpp_base.dia'))
    ro = parse_dia(os.path.join(specs, 'ergw-aaa-dia', 'diameter_3gpp_ts32_299_ro.dia'))
    ws = load_wireshark(os.path.join(specs, 'wireshark-dictionary'))
    external = load_rfc_names(os.path.join(specs, 'extracted', 'rfc-avps.csv'))
    # RFC 7155 AVPs that dcca_rfc4006.xml defines for its own grammars
    external.update({'Filter-Id': 11})

    report = []
    avps = {}
    dia_by_code = {v['code']: (k, v) for k, v in dia['avp_types'].items()}

    def flags_of(row):
        must = [f for f in ('M', 'V') if f in row['must']]
        may = [f for f in ('M', 'P') if f in row['may'] and f not in row['must']]
        return ' '.join(must), ' '.join(may)

    # ---- 1. the 415 TS 32.299 AVPs ----
    t32 = [r for r in rows if r['std'] == TS32299]
    for r in t32:
        name = NAME_BY_CODE.get(r['code'], r['name'])
        must, may = flags_of(r)
        a = Avp(name, r['code'], TGPP, r['type'], must, may, TS32299 + (' §' + r['section'] if r['section'] else ''),
                'ts32299')
        a.release = release_from_notes(r)
        a.csv_name = r['name']
        avps[name] = a
        # cross-check against .dia and Wireshark
        d = dia_by_code.get(r['code'])
        if d:
            dn, dv = d
            if dn != r['name']:
                report.append('name  %5d CSV %s | dia %s' % (r['code'], r['name'], dn))
            if dv['type'] != r['type']:
                report.append('type  %5d %s CSV %s | dia %s' % (r['code'], name, r['type'], dv['type']))
            df = set(dv['flags'].replace('-', ''))
            if df != (r['must'] & {'M', 'V'}):
                report.append('flags %5d %s CSV must %s | dia %s' % (r['code'], name, sorted(r['must']), dv['flags']))
        else:
            report.append('nodia %5d %s' % (r['code'], name))
        w = ws.get((TGPP, r['code']))
        if w:
            wt = WS_TYPE_NORM.get(w['type'], w['type'])
            if w['name'] != r['name']:
                report.append('wsname %5d CSV %s | ws %s' % (r['code'], r['name'], w['name']))
            if wt != r['type']:
                report.append('wstype %5d %s CSV %s | ws %s' % (r['code'], name, r['type'], w['type']))
        else:
            report.append('nows  %5d %s' % (r['code'], name))

    by_csv_name = {}
    for r in rows:
        by_csv_name.setdefault(r['name'], []).append(r)
    rfc4005 = {r['name']: r for r in rfc_rows if r['std'] == 'RFC 4005'}
    ws_by_name = {}
    for (v, c), w in ws.items():
        ws_by_name.setdefault(w['name'], []).append((v, c, w))

    def canon(n):
        return ALIASES.get(n, n)

    def define_other(n):
        """Define an AVP of another spec by name; return True if defined/known."""
        if n in avps or n in external:
            return True
        cands = [r for r in by_csv_name.get(n, []) if r['std'] != TS32299]
        if len(cands) > 1:
            raise SystemExit('ambiguous CSV name %s' % n)
        if cands:
            r = cands[0]
            must, may = flags_of(r)
            sec = (' §' + r['section']) if r['section'] else ''
            a = Avp(n, r['code'], r['vendor'], r['type'], must, may, r['std'] + sec, 'other')
            a.release = release_from_notes(r)
            avps[n] = a
            return True
        if n in rfc4005:
            r = rfc4005[n]
            must, may = flags_of(r)
            a = Avp(n, r['code'], 0, r['type'], must, may, 'RFC 7155 (was RFC 4005 §%s)' % r['section'], 'other')
            avps[n] = a
            return True
        for v, c, w in ws_by_name.get(n, []):
            if v in (ETSI,):
                a = Avp(n, c, v, WS_TYPE_NORM.get(w['type'], w['type']), 'V', 'M', 'ETSI ES 283 034', 'other')
                avps[n] = a
                return True
            if v == 0 and n == 'OC-Reduction-Percentage':
                a = Avp(n, c, 0, WS_TYPE_NORM.get(w['type'], w['type']), '', 'M', 'RFC 7683 §7.7', 'other')
                avps[n] = a
                return True
        return False

    # ---- 2. grammars ----
    def convert_dia_entries(parent, entries):
        out, lost = [], []
        for e in entries:
            n = canon(e['avp'])
            if n == 'AVP':
                out.append(ANY)
                continue
            if n in UNRESOLVABLE:
                lost.append(n)
                continue
            if not define_other(n):
                raise SystemExit('unresolved grammar member %s in %s' % (n, parent))
            kind = {'<': 'fixed', '{': 'required', '[': 'optional'}[e['kind']]
            q = e['q']
            if not q:
                mn, mx = (0, 1) if kind == 'optional' else (1, 1)
            else:
                lo, _, hi = q.partition('*')
                mn = int(lo) if lo else (0 if kind == 'optional' else 1)
                mx = int(hi) if hi else '*'
            out.append((kind, n, mn, mx))
        return out, lost

    for gname, g in dia['grouped'].items():
        n = canon(gname)
        if n not in avps:
            raise SystemExit('dia grammar for unknown AVP %s' % gname)
        ents, lost = convert_dia_entries(n, g['entries'])
        avps[n].grammar = ents
        avps[n].grammar_src = 'ergw_aaa diameter_3gpp_ts32_299.dia'
        avps[n].lost = lost
        for pos, ent in GRAMMAR_ADDITIONS.get(n, []):
            define_other(ent[1])
            if pos is None:
                ents.insert(0, ent)
            else:
                i = [x[1] if len(x) > 1 else None for x in ents].index(pos)
                ents.insert(i + 1, ent)

    # extra grammars (TS 32.299 AVPs the .dia lacks + other specs), resolved to a fixpoint
    changed = True
    while changed:
        changed = False
        for a in list(avps.values()):
            if a.type == 'Grouped' and a.grammar is None and a.name in EXTRA_GROUPED:
                ents, src = EXTRA_GROUPED[a.name]
                new = []
                for e in ents:
                    if e == ANY:
                        new.append(e)
                        continue
                    if not define_other(e[1]):
                        raise SystemExit('unresolved member %s of %s' % (e[1], a.name))
                    new.append(e)
                a.grammar, a.grammar_src, a.lost = new, src, []
                changed = True

    for n in EXTRA_AVPS:
        if not define_other(n):
            raise SystemExit('cannot define %s' % n)

    # every grammar that lost members (Service-Information: M2M-Information, ...) gets <any/>
    for a in avps.values():
        if a.grammar is not None and getattr(a, 'lost', None) and ANY not in a.grammar:
            a.grammar.append(ANY)
    missing = [a.name for a in avps.values() if a.type == 'Grouped' and a.grammar is None]
    if missing:
        raise SystemExit('grouped AVPs without grammar: %s' % missing)

    # ---- 3. enums ----
    dia_enums = {}
    for src in (dia, dia_base):
        for k, v in src['enum'].items():
            dia_enums[canon(k)] = v
    for a in avps.values():
        if a.type != 'Enumerated':
            continue
        vals = {}
        srcs = {}
        for lab, v in dia_enums.get(a.name, []):
            vals[v] = lab
            srcs[v] = 'dia'
        w = ws.get((a.vendor, a.code))
        if w and ENUM_DROP.get(a.name) != 'ws':
            for lab, v in w['enums']:
                if lab.strip().lower() == 'undefined':
                    continue
                if v not in vals:
                    vals[v] = lab
                    srcs[v] = 'ws'
        for lab, v in EXTRA_ENUMS.get(a.name, []):
            if v not in vals:
                vals[v] = lab
                srcs[v] = 'extra'
        if not vals:
            raise SystemExit('no enum values for %s' % a.name)
        seen = set()
        for v in sorted(vals):
            nm = ENUM_NAME_OVERRIDES.get((a.name, v)) or upper_snake(vals[v])
            if nm in seen:
                nm = '%s_%d' % (nm, v)
            seen.add(nm)
            a.enums.append((nm, v, srcs[v]))
    return avps, t32, report, ro


# --------------------------------------------------------------------------
# Emit
# --------------------------------------------------------------------------

def entry_xml(e, indent):
    if e == ANY:
        return indent + '<any/>'
    kind, n, mn, mx = e
    attrs = ''
    if kind == 'optional':
        if mn != 0:
            attrs += ' min="%s"' % mn
        if mx != 1:
            attrs += ' max="%s"' % mx
    elif (mn, mx) != (1, 1):
        attrs += ' min="%s" max="%s"' % (mn, mx)
    return '%s<%s avp=%s%s/>' % (indent, kind, quoteattr(n), attrs)


def avp_xml(a, docs):
    attrs = 'name=%s code="%d" type="%s"' % (quoteattr(a.name), a.code, a.type)
    if a.must:
        attrs += ' must="%s"' % a.must
    if a.may:
        attrs += ' may="%s"' % a.may
    if a.vendor not in (0, TGPP):
        attrs += ' vendor="%s"' % VENDOR_NAMES[a.vendor]
    attrs += ' spec=%s' % quoteattr(a.spec)
    if a.release:
        attrs += ' release="%s"' % a.release
    out = ['  <avp %s>' % attrs]
    doc = docs.get(a.name)
    if doc is None:
        raise SystemExit('no doc for %s' % a.name)
    out.append('    <doc>%s</doc>' % escape(doc))
    mixed = any(src == 'dia' for _, _, src in a.enums)
    for nm, v, src in a.enums:
        if mixed and src == 'ws':
            out.append('    <enum name="%s" value="%d" doc="Listed by Wireshark only (not in the ergw_aaa .dia)."/>' % (nm, v))
        else:
            out.append('    <enum name="%s" value="%d"/>' % (nm, v))
    if a.grammar is not None:
        out.append('    <grouped>')
        for e in a.grammar:
            out.append(entry_xml(e, '      '))
        out.append('    </grouped>')
    out.append('  </avp>')
    return '\n'.join(out)


HEADER = '''<?xml version="1.0" encoding="UTF-8"?>
<!--
  3GPP TS 32.299 (V15.7.0, Release 15) Diameter charging AVPs for online charging
  over Ro/Gy (Credit-Control, application 4), vendor 3GPP (10415).

  First version generated by tools/gen_tgpp_ts32299.py from ../shared/specs
  (freeDiameter dict_dcca_3gpp.csv, ergw_aaa .dia files, Wireshark 4.0.17 XML);
  this XML is now the source of truth. Decisions where the sources disagree:
  tgpp_ts32299.decisions.md.
-->
'''


def emit(avps, docs, dict_doc):
    ts = sorted((a for a in avps.values() if a.origin == 'ts32299'), key=lambda a: a.code)
    other = sorted((a for a in avps.values() if a.origin != 'ts32299'),
                   key=lambda a: (a.vendor != TGPP, a.spec.split(' §')[0], a.code))
    out = [HEADER.rstrip('\n')]
    out.append('<dictionary name="tgpp_ts32299" vendor="3GPP" spec="3GPP TS 32.299 V15.7.0" '
               'href="https://www.3gpp.org/ftp/Specs/archive/32_series/32.299/">')
    out.append('  <doc>\n%s\n  </doc>' % escape(dict_doc))
    out.append('')
    out.append('  <vendor id="10415" name="3GPP"/>')
    out.append('  <vendor id="13019" name="ETSI"/>')
    out.append('  <vendor id="5535" name="3GPP2"/>')
    out.append('  <import dictionary="base_rfc6733"/>')
    out.append('  <import dictionary="dcca_rfc4006"/>')
    out.append('')
    out.append('  <!-- ================================================================== -->')
    out.append('  <!-- 3GPP additions to RFC 4006/8506 definitions (Ro/Gy)               -->')
    out.append('  <!-- ================================================================== -->')
    out.append('')
    out.append('  <extend command="Credit-Control">')
    out.append('    <request spec="3GPP TS 32.299 §6.4.2">')
    out += [entry_xml(e, '      ') for e in CCR_ADD]
    out.append('    </request>')
    out.append('    <answer spec="3GPP TS 32.299 §6.4.3">')
    out += [entry_xml(e, '      ') for e in CCA_ADD]
    out.append('    </answer>')
    out.append('  </extend>')
    out.append('')
    for target, ents in EXTENDS:
        out.append('  <extend avp="%s">' % target)
        out.append('    <grouped>')
        out += [entry_xml(e, '      ') for e in ents]
        out.append('    </grouped>')
        out.append('  </extend>')
        out.append('')
    out.append('  <!-- ================================================================== -->')
    out.append('  <!-- TS 32.299 V15.7.0 Table 7.2.0.1 AVPs, by code                      -->')
    out.append('  <!-- ================================================================== -->')
    out.append('')
    for a in ts:
        out.append(avp_xml(a, docs))
        out.append('')
    out.append('  <!-- ================================================================== -->')
    out.append('  <!-- AVPs of other specifications used by the grammars above            -->')
    out.append('  <!-- ================================================================== -->')
    out.append('')
    cur = None
    for a in other:
        s = a.spec.split(' §')[0].split(' (')[0]
        if s != cur:
            out.append('  <!-- %s -->' % s)
            cur = s
        out.append(avp_xml(a, docs))
        out.append('')
    out.append('</dictionary>')
    return '\n'.join(out) + '\n'


def ro_extends(ro):
    """3GPP-added members of RFC 4006 grouped AVPs, from the Ro .dia."""
    rfc = {'Multiple-Services-Credit-Control': ['Granted-Service-Unit', 'Requested-Service-Unit',
                                                'Used-Service-Unit', 'Tariff-Change-Usage', 'Service-Identifier',
                                                'Rating-Group', 'G-S-U-Pool-Reference', 'Validity-Time',
                                                'Result-Code', 'Final-Unit-Indication'],
           'Used-Service-Unit': ['Tariff-Change-Usage', 'CC-Time', 'CC-Money', 'CC-Total-Octets',
                                 'CC-Input-Octets', 'CC-Output-Octets', 'CC-Service-Specific-Units'],
           'Granted-Service-Unit': ['Tariff-Time-Change', 'CC-Time', 'CC-Money', 'CC-Total-Octets',
                                    'CC-Input-Octets', 'CC-Output-Octets', 'CC-Service-Specific-Units'],
           'Requested-Service-Unit': ['CC-Time', 'CC-Money', 'CC-Total-Octets', 'CC-Input-Octets',
                                      'CC-Output-Octets', 'CC-Service-Specific-Units']}
    res = []
    for target, base in rfc.items():
        ents = []
        for e in ro['grouped'][target]['entries']:
            if e['avp'] == 'AVP' or e['avp'] in base:
                continue
            mx = '*' if e['q'] == '*' else 1
            ents.append(('optional', e['avp'], 0, mx))
        if ents:
            res.append((target, ents))
    return res


EXTENDS = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--specs', default=DEFAULT_SPECS)
    ap.add_argument('--out', default=DEFAULT_OUT)
    ap.add_argument('--report', action='store_true', help='print source discrepancies')
    args = ap.parse_args()
    avps, t32, report, ro = build(args.specs)
    EXTENDS[:] = ro_extends(ro)
    xml = emit(avps, DOCS, DICT_DOC)
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(xml)
    if args.report:
        print('\n'.join(report))
        for a in sorted(avps.values(), key=lambda a: (a.origin, a.code)):
            if a.enums and any(s != 'dia' for _, _, s in a.enums):
                print('enum-src', a.name, [(n, v, s) for n, v, s in a.enums if s != 'dia'])
    ts = sum(1 for a in avps.values() if a.origin == 'ts32299')
    print('wrote %s: %d AVPs (%d TS 32.299, %d other)' % (args.out, len(avps), ts, len(avps) - ts),
          file=sys.stderr)


DICT_DOC = """\
3GPP TS 32.299 (V15.7.0, Release 15) charging AVPs for online charging over
Ro/Gy, vendor 3GPP (10415). Ro/Gy reuse the Diameter Credit-Control
application (application 4, dcca_rfc4006); this dictionary adds the 3GPP AVPs,
above all Service-Information and its service-specific children (PS-, IMS-,
MMS-, LCS-, PoC-, MBMS-, SMS-, VCS-, MMTel-, ProSe-, CPDT-Information and AoC),
the 3GPP members of Multiple-Services-Credit-Control and Used-Service-Unit, and
the 3GPP entries of CCR/CCA (AoC-Request-Type, Service-Information,
Low-Balance-Indication, Remaining-Balance).

It holds all 415 AVPs of TS 32.299 V15.7.0 Table 7.2.0.1 plus the AVPs of other
specifications (TS 29.061, 29.212, 29.214, 29.229, 29.272, ..., RFC 7155,
ETSI ES 283 034, OMA DDS) that their grammars use. Grouped AVPs of other
specifications that the charging grammars only pass through are defined with
the members needed here and end with `*[ AVP ]`. Service-Context-Id
values in use: `32251@3gpp.org` (PS), `32260@3gpp.org` (IMS), `32270@3gpp.org`
(MMS), `32274@3gpp.org` (SMS), `32275@3gpp.org` (MMTel)."""

# One short description per AVP ("Name | text"), written for this dictionary.
DOCS_TEXT = """\
Event-Type | SIP method, event package and expiry of the SIP request that caused the charging event.
SIP-Method | Name of the SIP request method (INVITE, MESSAGE, ...) that triggered the charging event. Wireshark calls this AVP 3GPP-SIP-Method; it is unrelated to the vendor-0 SIP-Method of RFC 4740 (code 393).
Event | Content of the SIP Event header, for SUBSCRIBE/NOTIFY based charging events.
Content-Type | Media type of a SIP message body (the Content-Type header value).
Content-Length | Size in octets of a SIP message body.
Content-Disposition | How the receiver should interpret a SIP message body (the Content-Disposition header value).
Role-Of-Node | Whether the reporting IMS node acts for the originating side, the terminating side or forwards the session.
User-Session-Id | SIP session identifier seen by the reporting node (the Call-ID for SIP sessions).
Calling-Party-Address | Address (SIP URI or Tel URI) of the party that initiated the session or sent the request.
Called-Party-Address | Address (SIP URI or Tel URI) of the party the request was addressed to.
Time-Stamps | Times at which the SIP request and response that caused the charging event were seen.
SIP-Request-Timestamp | Time (seconds resolution) at which the SIP request was received or sent.
SIP-Response-Timestamp | Time (seconds resolution) at which the SIP response was received or sent.
Application-Server | SIP URI of an application server that handled the session.
Application-Provided-Called-Party-Address | Called party address that an application server supplied (for example after number translation).
Inter-Operator-Identifier | Pair of originating and terminating inter-operator identifiers (IOIs) exchanged between networks.
Originating-IOI | Inter-operator identifier of the originating network.
Terminating-IOI | Inter-operator identifier of the terminating network.
IMS-Charging-Identifier | IMS charging identifier (ICID) that correlates charging data of one IMS session across nodes.
SDP-Session-Description | One session-level line of the SDP body (for example "c=" or "b=").
SDP-Media-Component | Charging view of one SDP media component: its media lines and related indications.
SDP-Media-Name | The "m=" line of one SDP media component.
SDP-Media-Description | One media-level SDP line ("a=", "b=", "c=" ...) belonging to a media component.
CG-Address | IP address of the charging gateway function.
GGSN-Address | Control-plane IP address of the GGSN or P-GW serving the bearer.
Served-Party-IP-Address | IP address of the served user (calling party for originating, called party for terminating sessions).
Authorised-QoS | QoS authorised for the session, as text. Defined in the V15.7.0 table but not used by any grammar in this dictionary.
Application-Server-Information | One application server involved in the session, with the called address it supplied and its status.
Trunk-Group-Id | Incoming and outgoing PSTN trunk group identifiers used by an MGCF or BGCF.
Incoming-Trunk-Group-Id | Identifier of the trunk group on which the session entered the IMS.
Outgoing-Trunk-Group-Id | Identifier of the trunk group on which the session left the IMS.
Bearer-Service | Bearer service of a CS call (encoded as in ISUP/BICC), when the session interworks with the CS domain.
Service-Id | Identifier of the service (for example a conference or PoC service) that the session uses.
Associated-URI | A non-barred public user identity associated with the served user.
Charged-Party | Address of the party that is charged.
PoC-Controlling-Address | Address of the PoC server that controls the session.
PoC-Group-Name | Name of the PoC group used for the session.
Cause-Code | Reason for ending the session or failing the request; zero and negative values are successful endings, positive values failures.
Node-Functionality | Kind of network node (S-CSCF, P-GW, AS, ...) that produced the charging information.
Service-Specific-Data | Operator or service specific value, interpreted together with Service-Specific-Type.
Originator | Whether the calling or the called party originated a SIP message body.
PS-Furnish-Charging-Information | Free-format charging data the OCS asks the PCEF/GGSN to add to its offline charging records.
PS-Free-Format-Data | Opaque operator data to be copied into offline charging records.
PS-Append-Free-Format-Data | Whether new PS-Free-Format-Data is appended to earlier data or replaces it.
Time-Quota-Threshold | Seconds of granted time left at which the client should ask for more quota.
Volume-Quota-Threshold | Octets of granted volume left at which the client should ask for more quota.
Trigger-Type | One event (location, QoS, RAT change, ...) that makes the client report usage or re-authorize.
Quota-Holding-Time | Seconds of inactivity after which the client returns unused quota and reports usage.
Reporting-Reason | Why usage is being reported (threshold reached, quota exhausted, validity expired, final report, ...). Wireshark calls it 3GPP-Reporting-Reason.
Service-Information | Container for the service-specific charging information of 3GPP charging (PS, IMS, SMS, MMTel, ...), carried in CCR/CCA and ACR. M2M-Information (oneM2M, vendor 45687) is not defined here and is kept as a raw AVP by the trailing *[ AVP ].
PS-Information | Packet-switched (GPRS/EPC) charging information: bearer identifiers, node addresses, location, QoS and usage containers.
IMS-Information | IMS charging information: node role, parties, SIP timestamps, inter-operator identifiers, SDP and more.
MMS-Information | Multimedia Messaging Service charging information: parties, message attributes and options.
LCS-Information | Location service charging information: LCS client, requested location and positioning result.
PoC-Information | Push-to-talk over Cellular charging information: session type, participants and talk burst usage.
MBMS-Information | Multimedia Broadcast/Multicast Service charging information: TMGI, service type, areas and session data.
Quota-Consumption-Time | Idle time in seconds after which the client stops counting time quota between packets.
Media-Initiator-Flag | Which party (calling, called or unknown) initiated a media component.
PoC-Server-Role | Role of the PoC server that reports (participating, controlling or interworking).
PoC-Session-Type | Kind of PoC session (one-to-one, ad-hoc group, pre-arranged group, chat group).
Number-Of-Participants | Number of parties taking part in a session.
Originator-Address | Address of the originator of a message (MMS or SMS) with its type and domain.
Participants-Involved | Address of one party involved in a PoC session.
Expires | Expiry time in seconds taken from the SIP Expires header.
Message-Body | Size, type and disposition of one SIP message body.
Address-Data | The address itself (e-mail, MSISDN, IP address, short code, ...) whose kind Address-Type gives.
Address-Domain | Domain of an address: a domain name and/or the MCC/MNC of the network.
Address-Type | Kind of address carried in Address-Data (e-mail, MSISDN, IPv4, IPv6, short code, IMSI, other).
Domain-Name | Fully qualified domain name.
Recipient-Address | Address of one message recipient with its type, domain and addressee role (To, Cc, Bcc).
Submission-Time | Time at which a message was submitted.
MM-Content-Type | Content type, size and additional content information of a multimedia message.
Type-Number | Well-known content type of a message as a number (WAP WSP content type codes).
Additional-Type-Information | Content type given as text when no Type-Number exists for it.
Content-Size | Size in octets of a message or message part.
Additional-Content-Information | Type and size of one part of a multipart multimedia message.
Addressee-Type | Whether a recipient appears in To, Cc or Bcc.
Priority | Priority of a message (low, normal, high).
Message-ID | Identifier of a message (for MMS, the MMS message ID).
Message-Type | Type of MMS PDU (m-send-req, m-retrieve-conf, ...).
Message-Size | Total size in octets of a message.
Message-Class | Class of a message (personal, advertisement, informational, auto or a token).
Class-Identifier | Message class as one of the predefined values.
Token-Text | Message class given as an extension token.
Delivery-Report-Requested | Whether the originator asked for a delivery report.
Adaptations | Whether the originator allows content adaptation of the message.
Applic-ID | Identification of the application the message is addressed to.
Aux-Applic-Info | Auxiliary application information from the MMS header.
Content-Class | Content class of a multimedia message (text, image-basic, video-rich, ...).
DRM-Content | Whether the message contains DRM-protected content.
Read-Reply-Report-Requested | Whether the originator asked for a read-reply report.
Reply-Applic-ID | Application to which replies should be addressed.
File-Repair-Supported | Whether an MBMS download session supports file repair.
MBMS-User-Service-Type | Kind of MBMS user service (download or streaming).
Unit-Quota-Threshold | Service-specific units of granted quota left at which the client should ask for more.
PDP-Address | IP address allocated to the UE for the PDP context or PDN connection.
SGSN-Address | Control-plane IP address of the SGSN, MME or S-GW serving the UE.
PoC-Session-Id | Identifier of a PoC session (the SIP URI of the session).
Deferred-Location-Event-Type | Event that triggers a deferred location report.
LCS-APN | Access point name of the LCS client.
LCS-Client-ID | Identity and kind of the location services client. The CSV spells it LCS-Client-Id.
LCS-Client-Dialed-By-MS | Number of the LCS client as dialled by the mobile station.
LCS-Client-External-ID | External identity of the LCS client.
LCS-Client-Name | Name of the LCS client with its coding and format.
LCS-Data-Coding-Scheme | Coding scheme of the LCS client name or requestor identity string.
LCS-Format-Indicator | Format of an LCS client name (logical name, e-mail address, MSISDN, URL, SIP URL).
LCS-Name-String | Name of the LCS client.
LCS-Requestor-ID | Identity of the entity that requested the location, with its coding.
LCS-Requestor-ID-String | Identity string of the location requestor.
LCS-Client-Type | Kind of LCS client (emergency, value added, PLMN operator, lawful intercept).
Location-Estimate | Estimated geographic location of the target (geographical shape encoding of TS 23.032).
Location-Estimate-Type | Kind of location requested (current, last known, initial, deferred activation or cancellation).
Location-Type | Type of location requested and, for deferred requests, the triggering event.
Positioning-Data | Positioning methods used and whether they succeeded.
PDP-Context-Type | Whether the PDP context is a primary or a secondary one.
MMBox-Storage-Requested | Whether the originator asked for the message to be stored in the MMBox.
Service-Specific-Info | A service-specific value together with its type.
Called-Asserted-Identity | Asserted identity of the called party (from P-Asserted-Identity in the response).
Requested-Party-Address | Address the session was originally requested to, before any retargeting.
PoC-User-Role | Role of a PoC user with its identifiers and information units.
PoC-User-Role-IDs | Identifier of a role a PoC user plays.
PoC-User-Role-Info-Units | Kind of role a PoC user plays (moderator, dispatcher, session owner, participant). Renamed from PoC-User-Role-info-Units in V13.1.0.
Talk-Burst-Exchange | Talk burst counts, volumes and times of one PoC reporting interval.
Service-Specific-Type | Type of the service-specific value in Service-Specific-Data.
Event-Charging-TimeStamp | Time at which one chargeable event of the reported usage occurred.
Participant-Access-Priority | Access priority of a PoC group participant.
Participant-Group | One participant of a PoC group with its priority and participating type.
PoC-Change-Condition | Reason why a PoC talk burst container was closed (service change, limits, tariff time).
PoC-Change-Time | Time at which the PoC change condition occurred.
Access-Network-Information | Content of the SIP P-Access-Network-Info header describing the access the user is on.
Trigger | Set of events that trigger a usage report or re-authorization; empty means none apply.
Base-Time-Interval | Length in seconds of the time units used by the time quota mechanism.
Envelope | One time envelope: its start and end time and the volume or events used inside it.
Envelope-End-Time | Time at which a time envelope closed.
Envelope-Reporting | Whether and how the client must report time envelopes (with volume, events or both).
Envelope-Start-Time | Time at which a time envelope opened.
Time-Quota-Mechanism | Time quota consumption method (discrete or continuous periods) and its base time interval.
Time-Quota-Type | Whether time is consumed in discrete periods or continuously.
Early-Media-Description | SDP timestamps, media components and session lines exchanged as early media.
SDP-TimeStamps | Times of an SDP offer and the matching answer.
SDP-Offer-Timestamp | Time of an SDP offer.
SDP-Answer-Timestamp | Time of an SDP answer.
AF-Correlation-Information | Links charging of a service data flow to the application function session that authorised it.
PoC-Session-Initiation-type | Whether a PoC session was set up on demand or pre-established. The lower-case "type" is the spelling of the V15.7.0 table.
Offline-Charging | Offline charging parameters the OCS sends to the charging client (quota consumption, time quota mechanism, envelopes, MSCC).
User-Participating-Type | How a PoC user participates (normal, network PoC box, UE PoC box).
Alternate-Charged-Party-Address | Address of a party other than the calling party that is charged for the session.
IMS-Communication-Service-Identifier | IMS communication service identifier (ICSI) of the session.
Number-Of-Received-Talk-Bursts | Number of talk bursts received by the user.
Number-Of-Talk-Bursts | Number of talk bursts sent by the user.
Received-Talk-Burst-Time | Duration in seconds of talk bursts received.
Received-Talk-Burst-Volume | Volume in octets of talk bursts received.
Talk-Burst-Time | Duration in seconds of talk bursts sent.
Talk-Burst-Volume | Volume in octets of talk bursts sent.
Media-Initiator-Party | Address of the party that initiated a media change.
PC5-Radio-Technology | Radio technology (E-UTRA, WLAN or both) used on the PC5 interface for ProSe.
RAN-End-Timestamp | End of the RAN usage reporting interval. The CSV names it RAN-End-Time.
RAN-Secondary-RAT-Usage-Report | Data volume the RAN reported for a secondary RAT (for example NR in EN-DC) over one interval.
RAN-Start-Timestamp | Start of the RAN usage reporting interval. The CSV names it RAN-Start-Time.
Secondary-RAT-Type | Secondary radio access technology the usage report refers to.
Civic-Address-Information | Civic (street) address of the WLAN access point.
WLAN-Operator-Id | Identity of the trusted or untrusted WLAN operator (PLMN id and/or name).
WLAN-Operator-Name | Name of the WLAN operator.
WLAN-PLMN-Id | PLMN identifier (MCC and MNC) of the WLAN operator.
API-Content | Content of an exposure API request or notification, as text.
API-Direction | Whether the exposure API event is an invocation or a notification.
API-Identifier | Identifier of the exposure API that was invoked.
API-Invocation-Timestamp | Time of the exposure API invocation or notification.
API-Result-Code | Result of the exposure API invocation.
API-Size | Size in octets of the exposure API request or notification.
API-Network-Service-Node | Network element that triggered the exposure API notification (MME, HSS, PCRF, ...).
Exposure-Function-API-Information | Charging information about one invocation of a northbound exposure (SCEF) API.
SCEF-Address | IP address of the SCEF.
TLTRI | T8 long-term transaction reference identifier of the exposure API transaction.
3GPP-OC-Specific-Reduction | Diameter overload control reduction restricted to rating groups and/or request types (TS 32.299 Annex B).
3GPP-OC-Rating-Group | Rating group to which an overload reduction applies.
3GPP-OC-Request-Type | Credit-control request type (initial, update, termination, event) to which an overload reduction applies.
SMS-Information | Short Message Service charging information: nodes, addresses, message attributes and results.
Data-Coding-Scheme | Data coding scheme of a short message (TP-DCS).
Destination-Interface | Interface of the message destination (identifier, text, port, type).
Interface-Id | Identifier of a messaging interface, for example an application identity.
Interface-Port | Port of a messaging interface.
Interface-Text | Descriptive text of a messaging interface.
Interface-Type | Kind of messaging interface (mobile or application, originating or terminating).
SM-Message-Type | Kind of short message event (submission, delivery report, device trigger, ...).
Originator-SCCP-Address | SCCP calling address of the node that sent the short message.
Originator-Interface | Interface of the message originator (identifier, text, port, type).
Recipient-SCCP-Address | SCCP called address of the node the short message was sent to.
Reply-Path-Requested | Whether a reply path was requested for the short message.
SM-Discharge-Time | Time of the status change reported for a short message (TP-DT).
SM-Protocol-ID | Protocol identifier of a short message (TP-PID).
SM-Status | Status of a short message (TP-ST).
SM-User-Data-Header | User data header of a short message (TP-UDH).
SMS-Node | Kind of node reporting the SMS event (SMS router, IP-SM-GW, SMS-SC).
SMSC-Address | Address of the SMS service centre.
Client-Address | Address of the client (for example the MSC or SGSN) that delivered or submitted the short message.
Number-Of-Messages-Sent | Number of short messages sent in one submission (concatenated or multiple recipients).
Low-Balance-Indication | In a CCA, tells the client that the subscriber's balance is low.
Remaining-Balance | Balance remaining on the subscriber's account, as a value and currency.
Refund-Information | Opaque data the OCS gives the client so that a later refund can be matched to the original debit.
Carrier-Select-Routing-Information | Carrier selection routing information obtained for the call.
Number-Portability-Routing-Information | Number portability routing information obtained for the called party.
PoC-Event-Type | Kind of PoC event being charged (normal, instant personal alert, group advertisement, early session setup, talk burst).
Recipient-Info | One recipient of a short message with its interface, addresses and protocol identifier.
Originator-Received-Address | Originator address as received, before any modification by the node.
Recipient-Received-Address | Recipient address as received, before any modification by the node.
SM-Service-Type | Value-added SMS service applied to the message (forwarding, filtering, auto reply, ...).
MMTel-Information | Multimedia telephony charging information: the supplementary services used.
MMTel-SService-Type | Supplementary service (OIP, HOLD, CDIV, CONF, ...) as a number. Spelled with the double "S" in both the freeDiameter CSV and the ergw_aaa .dia; Wireshark calls it MMTel-Service-Type.
Service-Mode | Mode of a supplementary service (for example the kind of call diversion).
Subscriber-Role | Whether the served subscriber is on the originating or the terminating side of the supplementary service.
Number-Of-Diversions | Number of diversions applied to the session.
Associated-Party-Address | Address of the other party involved in a supplementary service (for example the diverting party).
SDP-Type | Whether the SDP data comes from an offer or an answer.
Change-Condition | Reason why a usage container was closed (QoS change, tariff time, record closure, ...).
Change-Time | Time at which a change condition or reported change occurred.
Diagnostics | Detailed cause of the bearer or session release, from the core network.
Service-Data-Container | Usage of one rating group or service identifier in one reporting interval, with the conditions that applied.
Start-Time | Start time of a session or usage period.
Stop-Time | End time of a session or usage period.
Time-First-Usage | Time of the first IP packet counted in a service data container.
Time-Last-Usage | Time of the last IP packet counted in a service data container.
Time-Usage | Seconds of usage counted between the first and last packet of a service data container.
Traffic-Data-Volumes | Uplink and downlink volume of a bearer in one reporting interval, with the QoS and location that applied.
Serving-Node-Type | Kind of serving node (SGSN, MME, S-GW variants, ePDG, TWAN, ...) that handles the UE.
Supplementary-Service | One MMTel supplementary service used, with its mode, parties and time.
Participant-Action-Type | How a participant joined or left a conference (create, join, invite, quit).
PDN-Connection-Charging-ID | Charging identifier shared by all bearers of one PDN connection.
Dynamic-Address-Flag | Whether the UE's IPv4 address was allocated dynamically for this PDN connection.
Accumulated-Cost | Cost accumulated so far for the session, as value digits and exponent.
AoC-Cost-Information | Advice-of-charge cost data: accumulated and incremental cost with the currency.
AoC-Information | Advice-of-charge data returned to the client: cost, tariff and AoC subscription.
AoC-Request-Type | In a CCR, which advice-of-charge data the client wants (none, full, cost only, tariff only).
Current-Tariff | Tariff that applies now: currency, scale factor and rate elements.
Next-Tariff | Tariff that will apply after the tariff switch time.
Rate-Element | One element of a tariff: the unit type, charge reason, unit value, unit cost and quota threshold.
Scale-Factor | Scaling factor applied to tariff values, as value digits and exponent.
Tariff-Information | Current tariff, the time of the next tariff switch and the next tariff.
Unit-Cost | Cost of one unit, as value digits and exponent.
Incremental-Cost | Cost added since the previous report, as value digits and exponent.
Local-Sequence-Number | Sequence number of a container within the charging records of one node.
Node-Id | Name of the node that produced the charging data.
SGW-Change | Whether an accounting start is caused by a change of S-GW.
Charging-Characteristics-Selection-Mode | Where the charging characteristics applied came from (serving node, subscription, APN, defaults).
SGW-Address | Control-plane IP address of the S-GW.
Dynamic-Address-Flag-Extension | Whether the UE's IPv6 prefix was allocated dynamically (used with an IPv4v6 PDN connection).
Charge-Reason-Code | Why a rate element is charged (usage, communication attempt, setup, add-on, unknown).
SIP-Request-Timestamp-Fraction | Milliseconds part of SIP-Request-Timestamp.
SIP-Response-Timestamp-Fraction | Milliseconds part of SIP-Response-Timestamp.
Online-Charging-Flag | Whether an ECF address was provided to the IMS node, i.e. online charging applies.
CUG-Information | Closed user group information of the session.
Real-Time-Tariff-Information | Tariff provided in real time, as structured data or as an XML document.
Tariff-XML | Tariff as an XML document.
MBMS-GW-Address | IP address of the MBMS gateway.
IMSI-Unauthenticated-Flag | Whether the served IMSI was not authenticated (for example an emergency call without a USIM).
Account-Expiration | Time at which the subscriber's account expires.
AoC-Format | Format of advice of charge (monetary, non-monetary, CAI parameters).
AoC-Service | One advice-of-charge service the subscriber has, with whether it is binding.
AoC-Service-Obligatory-Type | Whether the advice of charge is binding or only informative.
AoC-Service-Type | Which advice-of-charge service applies (AoC-S, AoC-D, AoC-E or none).
AoC-Subscription-Information | Subscriber's advice-of-charge services, format and preferred currency.
Preferred-AoC-Currency | Currency (ISO 4217 code) the subscriber prefers for advice of charge.
CSG-Access-Mode | Access mode of the closed subscriber group cell (closed or hybrid).
CSG-Membership-Indication | Whether the UE is a member of the closed subscriber group.
User-CSG-Information | Closed subscriber group of the cell the UE uses, its access mode and the UE's membership.
Outgoing-Session-Id | Session identifier used on the outgoing leg of a B2BUA node.
Initial-IMS-Charging-Identifier | ICID of the initial session, kept after access transfers.
IMS-Emergency-Indicator | Whether the IMS session is an emergency session.
MBMS-Charged-Party | Whether the content provider or the subscriber is charged for the MBMS session.
IMS-Application-Reference-Identifier | IMS application reference identifier (IARI) of the session.
Low-Priority-Indicator | Whether the UE requested low access priority for the PDN connection.
IP-Realm-Default-Indication | Whether the default IP realm is used for the media component.
Local-GW-Inserted-Indication | Whether a local gateway was inserted in the media path.
Transcoder-Inserted-Indication | Whether a transcoder was inserted in the media path.
PDP-Address-Prefix-Length | Prefix length of the IPv6 address in PDP-Address.
Transit-IOI-List | Inter-operator identifiers of transit networks on the session path.
Status-AS-Code | Outcome reported by an application server (4xx or 5xx response, timeout). Named Status in early releases and Status-Code in V11.10.0.
NNI-Information | Network-to-network interface used: direction, type, relationship and neighbour node.
NNI-Type | Kind of NNI (non-roaming, roaming with or without loopback).
Neighbour-Node-Address | IP address of the neighbouring node across the NNI.
Relationship-Mode | Whether the neighbouring network is trusted.
Session-Direction | Whether the session is inbound or outbound on the NNI.
From-Address | Content of the SIP From header.
Access-Transfer-Information | One access transfer (PS to CS, CS to PS, ...) performed for the session, with the new access and time.
Access-Transfer-Type | Direction of an access transfer (PS to CS, CS to PS, PS to PS, CS to CS).
Related-IMS-Charging-Identifier | ICID of a related session, for example the other leg of an access transfer.
Related-IMS-Charging-Identifier-Node | Address of the node that generated the related ICID.
IMS-Visited-Network-Identifier | Identifier of the visited network of the IMS user.
TWAN-User-Location-Info | Location of the UE in a trusted WLAN access network (SSID, BSSID, civic address, operator).
BSSID | Basic service set identifier (MAC address) of the WLAN access point.
TAD-Identifier | Access domain (CS or PS) selected by terminating access domain selection.
Reason-Header | Content of a SIP Reason header.
Instance-Id | Value of the SIP "+sip.instance" parameter identifying the UE instance.
Route-Header-Received | Route header of the SIP request as received.
Route-Header-Transmitted | Route header of the SIP request as sent on.
SM-Device-Trigger-Information | Device trigger data carried in a short message (MTC-IWF, reference number, validity, priority, port).
MTC-IWF-Address | IP address of the MTC interworking function.
SM-Device-Trigger-Indicator | Whether the short message is a device trigger and which trigger operation it performs.
SM-Sequence-Number | Sequence number of a segment of a concatenated short message.
SMS-Result | Result of the short message submission or delivery.
VCS-Information | Voice call service charging information for CS calls handled through the IMS or an OCS (CAMEL-like data).
Basic-Service-Code | Basic service of a CS call as bearer service or teleservice.
Bearer-Capability | Bearer capability of a CS call (as in the call control signalling).
Teleservice | Teleservice code of a CS call.
ISUP-Location-Number | ISUP location number of the calling party.
Forwarding-Pending | Whether call forwarding is pending for the call.
ISUP-Cause | ISUP release cause of a CS call: location, value and diagnostics.
MSC-Address | E.164 address of the MSC handling the call.
Network-Call-Reference-Number | Network call reference number assigned by the MSC.
Start-of-Charging | Time at which charging of the CS call started.
VLR-Number | E.164 number of the VLR serving the subscriber.
CN-Operator-Selection-Entity | Whether the UE or the network selected the serving core network operator (network sharing).
ISUP-Cause-Diagnostics | Diagnostics field of the ISUP release cause.
ISUP-Cause-Location | Location field of the ISUP release cause.
ISUP-Cause-Value | Cause value of the ISUP release cause.
EPDG-Address | Control-plane IP address of the ePDG.
Announcing-UE-HPLMN-Identifier | PLMN identifier of the home network of the announcing ProSe UE.
Announcing-UE-VPLMN-Identifier | PLMN identifier of the network the announcing ProSe UE is in.
Coverage-Status | Whether the ProSe UE is in or out of E-UTRAN coverage.
Layer-2-Group-ID | Layer-2 group identifier used for ProSe direct communication.
Monitored-PLMN-Identifier | PLMN identifier of the monitored ProSe UE's network. The ProSe-Information grammar of the sources calls it Monitored-HPLMN-Identifier.
Monitoring-UE-HPLMN-Identifier | PLMN identifier of the home network of the monitoring ProSe UE.
Monitoring-UE-Identifier | Identity of the monitoring ProSe UE.
Monitoring-UE-VPLMN-Identifier | PLMN identifier of the network the monitoring ProSe UE is in.
PC3-Control-Protocol-Cause | Cause code from the PC3 control protocol of the ProSe request.
PC3-EPC-Control-Protocol-Cause | Cause code from the PC3 control protocol for EPC-level ProSe discovery.
Requested-PLMN-Identifier | PLMN identifier of the UE that is the target of a ProSe request.
Requestor-PLMN-Identifier | PLMN identifier of the UE that made a ProSe request.
Role-Of-ProSe-Function | Whether the ProSe function acts for the home, visited or local PLMN.
Usage-Information-Report-Sequence-Number | Sequence number of a ProSe usage information report.
ProSe-3rd-Party-Application-ID | Identifier of the third-party application using ProSe.
ProSe-Direct-Communication-Transmission-Data-Container | Data sent by the UE over ProSe direct communication in one reporting interval.
ProSe-Direct-Discovery-Model | ProSe direct discovery model used (A or B).
ProSe-Event-Type | Kind of ProSe discovery event (announcing, monitoring, match report).
ProSe-Function-IP-Address | IP address of the ProSe function.
ProSe-Functionality | ProSe functionality used (direct discovery, EPC-level discovery, direct communication).
ProSe-Group-IP-Multicast-Address | IP multicast address of the ProSe group.
ProSe-Information | Proximity services charging information: discovery, proximity requests and direct communication usage.
ProSe-Range-Class | Range class requested for ProSe proximity detection.
ProSe-Reason-For-Cancellation | Why a ProSe proximity request was cancelled.
ProSe-Request-Timestamp | Time at which the ProSe request was received.
ProSe-Role-Of-UE | Role of the UE in the ProSe event (announcing, monitoring, requestor, requested).
ProSe-Source-IP-Address | Source IP address used by the UE for ProSe direct communication.
ProSe-UE-ID | Layer-2 identifier of the UE for ProSe direct communication.
Proximity-Alert-Indication | Whether a proximity alert was sent.
Proximity-Alert-Timestamp | Time of the proximity alert.
Proximity-Cancellation-Timestamp | Time at which the proximity request was cancelled.
ProSe-Function-PLMN-Identifier | PLMN identifier of the ProSe function.
Application-Specific-Data | Application-specific data of a ProSe discovery.
Coverage-Info | Coverage status of the ProSe UE at a given time and its locations.
Location-Info | One user location with the time it was observed.
ProSe-Direct-Communication-Reception-Data-Container | Data received by the UE over ProSe direct communication in one reporting interval.
Radio-Frequency | Radio frequency used for ProSe direct communication.
Radio-Parameter-Set-Info | One radio parameter set used for ProSe direct communication with the time it took effect.
Radio-Parameter-Set-Values | Values of a ProSe radio parameter set.
Radio-Resources-Indicator | Whether operator-provided or configured radio resources were used for ProSe direct communication.
Time-First-Reception | Time of the first data reception over ProSe direct communication.
Time-First-Transmission | Time of the first data transmission over ProSe direct communication.
Transmitter-Info | Source IP address and UE identifier of one ProSe transmitter.
Enhanced-Diagnostics | Additional diagnostics for a bearer release, such as RAN/NAS release causes.
Inter-UE-Transfer | Whether a session transfer stays on the same UE or moves to another UE.
TWAG-Address | Control-plane IP address of the trusted WLAN access gateway.
Announcement-Information | An announcement the charging client should play to the user, with its variable parts and playback options.
Announcement-Identifier | Identifier of the announcement to play.
Announcement-Order | Position of the announcement in the playback sequence.
Variable-Part | One variable element (number, time, date, currency, ...) inserted into an announcement.
Variable-Part-Order | Position of the variable part within the announcement.
Variable-Part-Type | Kind of variable part (0 integer, 1 number, 2 time, 3 date, 4 currency, ...). Unsigned32 per the V15.7.0 table; ergw_aaa makes it Enumerated.
Variable-Part-Value | Value of the variable part, as text.
Time-Indicator | When, in seconds, the announcement should be played.
Quota-Indicator | Whether the time of announcement playback is counted against the quota.
Play-Alternative | Whether the announcement is played to the served party or the remote party.
Language | Language of the announcement.
Privacy-Indicator | Whether the announcement content is private to the served user.
Called-Identity | New called identity after a change during the session.
Called-Identity-Change | A change of the called identity and the time it happened.
UWAN-User-Location-Info | Location of the UE in an untrusted WLAN: local IP address, UDP port, SSID and BSSID.
Monitoring-Event-Configuration-Activity | Whether a monitoring event configuration was created, modified or deleted.
Monitoring-Event-Report-Data | One monitoring event report delivered by the SCEF.
Monitoring-Event-Information | Charging information about a monitoring event configuration and its reports at the SCEF.
Monitoring-Event-Functionality | Kind of monitoring event functionality (configuration or report).
Monitoring-Event-Report-Number | Number of monitoring event reports sent.
Cellular-Network-Information | Cellular access information of the UE (cell identity and radio type) as seen by the IMS.
Related-Change-Condition-Information | Conditions from another node that caused a container to be closed.
Related-Trigger | A further set of trigger types, alongside Trigger, that the OCS arms for related usage reports.
CPDT-Information | Charging information for control-plane data transfer, i.e. non-IP data delivery through the SCEF.
NIDD-Submission | One non-IP data delivery submission: times, volumes and change condition.
Serving-Node-Identity | Diameter identity of the serving node (MME or SGSN) in NIDD.
CP-CIoT-EPS-Optimisation-Indicator | Whether control-plane CIoT EPS optimisation applies to the data.
SGi-PtP-Tunnelling-Method | Point-to-point tunnelling method used on SGi for non-IP data (UDP/IP or other).
UNI-PDU-CP-Only-Flag | Whether the PDN connection uses the control plane only for user data.
APN-Rate-Control | Uplink and downlink APN rate control applied to the PDN connection.
APN-Rate-Control-Downlink | Downlink APN rate control: time unit, maximum rate and maximum message size.
APN-Rate-Control-Uplink | Uplink APN rate control: exception report permission, time unit and maximum rate.
Additional-Exception-Reports | Whether additional exception reports are allowed once the uplink rate limit is reached.
Rate-Control-Max-Message-Size | Maximum message size for APN rate control.
Rate-Control-Max-Rate | Maximum number of messages per time unit for APN rate control.
Rate-Control-Time-Unit | Time unit of APN rate control (minute, hour, day, ...).
SCS-AS-Address | Address of the SCS or application server: Diameter realm and IP address.
SCS-Address | IP address of the SCS or application server.
SCS-Realm | Diameter realm of the SCS or application server.
Charging-Per-IP-CAN-Session-Indicator | Whether charging is per IP-CAN session (active) or per bearer.
Access-Network-Info-Change | A change of the access network information during the session, with the time it happened.
Discoveree-UE-HPLMN-Identifier | PLMN identifier of the home network of the discovered ProSe UE.
Discoveree-UE-VPLMN-Identifier | PLMN identifier of the network the discovered ProSe UE is in.
Discoverer-UE-HPLMN-Identifier | PLMN identifier of the home network of the discovering ProSe UE.
Discoverer-UE-VPLMN-Identifier | PLMN identifier of the network the discovering ProSe UE is in.
3GPP-PS-Data-Off-Status | Whether 3GPP PS Data Off is active for the UE. Named 3GPP-PS-Data-Off-Status-32.299 in the freeDiameter CSV, which renames it to avoid the TS 29.212 AVP of the same name (code 2847).
Unused-Quota-Timer | Value in seconds of the unused-quota timer the charging client applies.
Announcing-PLMN-ID | PLMN identifier of the network in which the ProSe announcement was made.
ProSe-UE-to-Network-Relay-UE-ID | Layer-2 identifier of the ProSe UE-to-network relay.
ProSe-Target-Layer-2-ID | Target layer-2 identifier for ProSe one-to-one communication.
Relay-IP-address | IP address of the ProSe UE-to-network relay.
Target-IP-Address | IP address of the target of ProSe one-to-one communication.
FE-Identifier-List | Identifiers of the functional entities that handled the session.
3GPP-IMSI | IMSI of the served user, as digits.
3GPP-Charging-Id | Charging identifier the GGSN/P-GW assigned to the bearer; it correlates charging data of the same bearer. Unsigned32 per the freeDiameter fix note (TS 29.061 §16.4.7.2 and packet captures).
3GPP-PDP-Type | Type of PDP context or PDN connection (IPv4, PPP, IPv6, IPv4v6, non-IP).
3GPP-IMSI-MCC-MNC | MCC and MNC taken from the served user's IMSI.
3GPP-GGSN-MCC-MNC | MCC and MNC of the network the GGSN/P-GW belongs to.
3GPP-NSAPI | Network service access point identifier of the PDP context (the EPS bearer identity).
3GPP-Session-Stop-Indicator | Marks that the last PDP context or bearer of the session has been released.
3GPP-Selection-Mode | How the APN was selected (subscribed, sent by the MS, chosen by the network).
3GPP-Charging-Characteristics | Charging characteristics that apply to the PDP context or PDN connection.
3GPP-SGSN-MCC-MNC | MCC and MNC of the network the SGSN/MME/S-GW belongs to.
3GPP-RAT-Type | Radio access technology the UE uses, as the one-octet code of TS 29.061.
3GPP-User-Location-Info | Location of the UE (CGI, SAI, RAI, TAI, ECGI ...) in the binary format of TS 29.061.
3GPP-MS-TimeZone | Time zone and daylight saving adjustment of the UE's location.
TMGI | Temporary mobile group identity of the MBMS bearer service.
Required-MBMS-Bearer-Capabilities | Minimum bearer capabilities the UE needs to receive the MBMS service.
MBMS-Service-Area | List of MBMS service area identities where the service is delivered.
MBMS-Service-Type | Whether the MBMS bearer service is multicast or broadcast.
MBMS-2G-3G-Indicator | Whether the MBMS session is delivered over 2G, 3G or both.
MBMS-Session-Identity | Identity of one MBMS session within the service.
RAI | Routing area identity of the UE or of the MBMS service.
CN-IP-Multicast-Distribution | Whether IP multicast is used to distribute MBMS user plane data in the core network.
MBMS-Data-Transfer-Start | Time at which MBMS data transfer starts (NTP format).
MBMS-Data-Transfer-Stop | Time at which MBMS data transfer stops (NTP format).
Communication-Failure-Information | Cause of a communication failure reported for a monitored UE. Grammar not transcribed here; members are kept as raw AVPs.
Number-Of-UE-Per-Location-Configuration | Configuration for reporting the number of UEs at a location. Grammar not transcribed here; members are kept as raw AVPs.
Number-Of-UE-Per-Location-Report | Number of UEs found at a location. Grammar not transcribed here; members are kept as raw AVPs.
Serving-PLMN-Rate-Control | Rate limits the serving PLMN applies to control-plane data of the PDN connection.
Uplink-Rate-Limit | Maximum number of uplink messages per time unit allowed by the serving PLMN.
Downlink-Rate-Limit | Maximum number of downlink messages per time unit allowed by the serving PLMN.
RRC-Cause-Counter | Counter of RRC establishment causes with the time of counting.
Counter-Value | Value of the RRC cause counter.
RRC-Counter-Timestamp | Time at which the RRC cause counter was taken.
VASP-ID | Identifier of the value-added service provider of an MMS.
VAS-ID | Identifier of the value-added service of an MMS.
Serving-Node | Identity of the node (SGSN, MME, MSC, ...) serving the UE. Grammar not transcribed here; members are kept as raw AVPs.
MME-Name | Diameter identity of the MME.
MME-Realm | Diameter realm of the MME.
Charging-Rule-Base-Name | Name of a predefined group of PCC rules that applies to the session.
QoS-Information | Authorised QoS of a bearer or service data flow: QCI, bit rates, ARP and APN-AMBR.
Bearer-Identifier | Identifier of a bearer assigned by the PCRF.
Guaranteed-Bitrate-DL | Guaranteed downlink bit rate in bit/s.
Guaranteed-Bitrate-UL | Guaranteed uplink bit rate in bit/s.
IP-CAN-Type | Kind of IP connectivity access network (3GPP GPRS, EPS, 3GPP2, xDSL, WiMAX, ...).
QoS-Class-Identifier | QoS class identifier (QCI) of the bearer.
RAT-Type | Radio access technology of the IP-CAN (UTRAN, EUTRAN, WLAN, ...).
Allocation-Retention-Priority | Priority level and pre-emption capability/vulnerability of a bearer.
APN-Aggregate-Max-Bitrate-DL | Maximum aggregate downlink bit rate of all non-GBR bearers of the APN, in bit/s.
APN-Aggregate-Max-Bitrate-UL | Maximum aggregate uplink bit rate of all non-GBR bearers of the APN, in bit/s.
Priority-Level | Allocation and retention priority level (1 highest to 15 lowest).
Pre-emption-Capability | Whether the bearer may take resources from lower-priority bearers.
Pre-emption-Vulnerability | Whether the bearer may lose resources to higher-priority bearers.
TDF-IP-Address | IP address of the traffic detection function.
ADC-Rule-Base-Name | Name of a predefined group of application detection and control rules.
UE-Local-IP-Address | Local IP address of the UE behind an untrusted WLAN.
UDP-Source-Port | UDP source port of the UE's IPsec tunnel, when NAT is detected.
User-Location-Info-Time | Time at which the reported user location was last known.
Conditional-APN-Aggregate-Max-Bitrate | APN-AMBR that applies only for the listed IP-CAN types and RAT types.
RAN-NAS-Release-Cause | RAN or NAS cause of a bearer release, as encoded in TS 29.212.
Presence-Reporting-Area-Elements-List | Cells, tracking areas or other elements that make up a presence reporting area.
Presence-Reporting-Area-Identifier | Identifier of a presence reporting area.
Presence-Reporting-Area-Information | A presence reporting area and whether the UE is inside it.
Presence-Reporting-Area-Status | Whether the UE is inside, outside or inactive in the presence reporting area.
Fixed-User-Location-Info | Location of a UE on a fixed broadband or WLAN access (SSID, BSSID, logical and physical access id).
NBIFOM-Mode | Whether network-based IP flow mobility is UE-initiated or network-initiated.
NBIFOM-Support | Whether network-based IP flow mobility is supported.
Access-Availability-Change-Reason | Why the availability of an access type changed (NBIFOM).
Traffic-Steering-Policy-Identifier-DL | Identifier of the downlink traffic steering policy applied.
Traffic-Steering-Policy-Identifier-UL | Identifier of the uplink traffic steering policy applied.
Extended-APN-AMBR-DL | Downlink APN-AMBR in kbit/s, used when the value does not fit APN-Aggregate-Max-Bitrate-DL.
Extended-APN-AMBR-UL | Uplink APN-AMBR in kbit/s, used when the value does not fit APN-Aggregate-Max-Bitrate-UL.
Extended-GBR-DL | Guaranteed downlink bit rate in kbit/s, for values above the range of Guaranteed-Bitrate-DL.
Extended-GBR-UL | Guaranteed uplink bit rate in kbit/s, for values above the range of Guaranteed-Bitrate-UL.
Presence-Reporting-Area-Node | Which nodes (MME, SGSN, ...) handle the presence reporting area.
Access-Network-Charging-Identifier-Value | Charging identifier of the access network (for example the GGSN charging id) for the media component.
AF-Charging-Identifier | Charging identifier of the application function (for IMS, the ICID).
Flow-Number | Number of one IP flow within a media component.
Flows | Media component and IP flows an AF session refers to.
Max-Requested-Bandwidth-DL | Maximum requested downlink bandwidth in bit/s.
Max-Requested-Bandwidth-UL | Maximum requested uplink bandwidth in bit/s.
Media-Component-Number | Ordinal number of a media component in the session description.
SIP-Forking-Indication | Whether several SIP dialogues exist for the AF session because of forking. Not used by a grammar here; included on request.
Sponsor-Identity | Identity of the sponsor of sponsored data connectivity.
Application-Service-Provider-Identity | Identity of the application service provider of sponsored data connectivity.
Media-Component-Status | Status (enabled/disabled) of a media component.
Content-Version | Version of the content of a media component.
Extended-Max-Requested-BW-DL | Maximum requested downlink bandwidth in kbit/s, for values above the range of Max-Requested-Bandwidth-DL.
Extended-Max-Requested-BW-UL | Maximum requested uplink bandwidth in kbit/s, for values above the range of Max-Requested-Bandwidth-UL.
Server-Name | SIP URI of an S-CSCF.
Server-Capabilities | Capabilities an I-CSCF uses to select an S-CSCF.
Mandatory-Capability | Capability an S-CSCF must have.
Optional-Capability | Capability an S-CSCF may have.
Supported-Features | One list of features (vendor, list id, bit mask) supported by the sender.
Feature-List-ID | Identifier of a feature list.
Feature-List | Bit mask of supported features within a feature list.
Session-Priority | Priority of an IMS session (PRIORITY-0 highest).
Terminal-Information | Identity and software version of the UE.
IMEI | International mobile equipment identity of the UE.
Software-Version | Software version of the UE.
Visited-PLMN-Id | PLMN identifier of the visited network.
CSG-Id | Identifier of a closed subscriber group.
3GPP2-MEID | Mobile equipment identifier of a 3GPP2 terminal.
EPS-Location-Information | Location of the UE in EPS as known by the MME or SGSN. Grammar not transcribed here; members are kept as raw AVPs.
MME-Number-for-MT-SMS | ISDN number of the MME used for mobile-terminated SMS.
SSID | Service set identifier of the WLAN.
MSISDN | MSISDN of the user (TBCD-encoded digits).
External-Identifier | External identifier of the UE used towards application servers (username@realm).
SCEF-Reference-ID | Identifier the SCEF assigned to a monitoring event configuration or NIDD session.
SCEF-ID | Diameter identity of the SCEF.
Monitoring-Type | Kind of monitoring event (loss of connectivity, UE reachability, location reporting, ...).
Maximum-Number-of-Reports | Maximum number of reports for a monitoring event.
UE-Reachability-Configuration | Configuration for UE reachability monitoring.
Monitoring-Duration | Time until which monitoring is active.
Maximum-Detection-Time | Maximum time without communication before loss of connectivity is reported.
Reachability-Type | Kind of reachability to monitor (for SMS, for data).
Maximum-Response-Time | Time the UE stays reachable so that downlink data can be delivered.
MONTE-Location-Type | Kind of location requested by monitoring (current or last known).
Accuracy | Requested accuracy of location reporting.
Reachability-Information | Reachability status reported for the UE.
Origin-App-Layer-User-Id | Application layer user identity of the originating ProSe user.
Target-App-Layer-User-Id | Application layer user identity of the target ProSe user.
ProSe-Function-ID | FQDN of the ProSe function.
ProSe-App-Id | ProSe application identifier name.
ProSe-Validity-Timer | Validity time in minutes of a ProSe discovery code or filter.
Requesting-EPUID | EPC ProSe user identity of the requesting UE.
Time-Window | Time window in minutes of a ProSe proximity request.
WLAN-Link-Layer-Id | WLAN link layer identifier of the UE for ProSe.
Priority-Indication | Whether a device trigger is a priority request.
Reference-Number | Transaction reference number of a device trigger.
Application-Port-Identifier | Application port of the triggering application on the UE.
Service-Generic-Information | OMA service-generic charging data: application server, service type, session and delivery status.
Application-Server-Id | Identifier of the OMA application server.
Application-Service-Type | Kind of OMA application service action (sending, receiving, retrieval, inviting, leaving, joining).
Application-Session-Id | Identifier of the OMA application session.
Delivery-Status | Delivery status of an OMA service message.
IM-Information | OMA instant messaging charging data: numbers of messages sent and exploded.
Number-Of-Messages-Successfully-Exploded | Number of group messages successfully exploded to recipients.
Number-Of-Messages-Successfully-Sent | Number of messages successfully sent.
Total-Number-Of-Messages-Exploded | Total number of group messages exploded.
Total-Number-Of-Messages-Sent | Total number of messages sent.
DCD-Information | OMA dynamic content delivery charging data: content and content provider identifiers.
Content-ID | Identifier of the content delivered.
Content-provider-ID | Identifier of the content provider.
Logical-Access-ID | Logical access identifier of a fixed broadband access line (ETSI ES 283 034).
Physical-Access-ID | Physical access identifier of a fixed broadband access line (ETSI ES 283 034).
Framed-IP-Address | IPv4 address of the user (NASREQ). Not used by a grammar here; included on request.
Called-Station-Id | Called station identifier; in 3GPP PS charging, the APN the user connected to.
Framed-IPv6-Prefix | IPv6 prefix of the user (NASREQ). Not used by a grammar here; included on request.
Accounting-Input-Octets | Octets received from the user (uplink).
Accounting-Output-Octets | Octets sent to the user (downlink).
OC-Reduction-Percentage | Percentage by which a reacting node should reduce traffic during Diameter overload (RFC 7683).
3GPP2-BSID | Base station identifier of the 3GPP2 access network.
"""
DOCS = dict(l.split(' | ', 1) for l in DOCS_TEXT.splitlines() if l.strip())

if __name__ == '__main__':
    main()
