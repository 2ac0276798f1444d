#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/seed-<sha1>).

Seeds are spec examples (RFC 6120/6121/7622/5802/7677/7395, XEP-0004/0363), recorded client sessions
and malformed cases (the hostile inputs of issue 9: entity expansion, DTDs, deep nesting, huge
attribute counts, bad UTF-8, a second root, namespace tricks, forged addresses...). Each is written in
several of the target's modes (first byte). Regression inputs found by fuzzing are committed beside
them as regress-<what>; this script never touches those. Run it again after changing it:
    python3 tests/fuzz/make_corpus.py
"""
import base64
import hashlib
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
STREAM_NS = "http://etherx.jabber.org/streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
HEADER = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
          "xmlns:stream='%s' version='1.0'>" % STREAM_NS)
OPEN = "<open xmlns='%s' to='localhost' version='1.0'/>" % FRAMING

written = {}


def put(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    written.setdefault(target, set()).add(name)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


# --- Stanzas: spec examples and recorded traffic -----------------------------------------------------
STANZAS = [
    "<message to='juliet@localhost/balcony' type='chat' id='m1'><body>Wherefore art thou, Romeo?</body></message>",
    "<message to='romeo@example.net' from='juliet@localhost/balcony' type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>",
    "<presence/>",
    "<presence><show>away</show><status>I shall return!</status><priority>1</priority></presence>",
    "<presence type='unavailable'/>",
    "<presence to='romeo@example.net' type='subscribe'/>",
    "<presence to='romeo@example.net' type='subscribed'/>",
    "<presence type='probe' to='romeo@example.net'/>",
    "<presence type='bogus'/>",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
    "<iq type='get' id='r2'><query xmlns='jabber:iq:roster' ver='ver7'/></iq>",
    "<iq type='set' id='r3'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' name='Nurse'><group>Servants</group></item></query></iq>",
    "<iq type='set' id='r4'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' subscription='remove'/></query></iq>",
    "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    "<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
    "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>",
    "<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>",
    "<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>",
    "<iq type='set' id='mam1'><query xmlns='urn:xmpp:mam:2' queryid='f27'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>juliet@capulet.lit</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set></query></iq>",
    "<iq type='get' id='up1' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='tr\u00e8s cool.jpg' size='23456' content-type='image/jpeg'/></iq>",
    "<iq type='set' id='pep1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='a1'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish></pubsub></iq>",
    "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></block></iq>",
    "<iq type='get' id='vc1'><vCard xmlns='vcard-temp'/></iq>",
    "<iq type='set' id='pr1'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query></iq>",
    "<message to='coven@muc.localhost' type='groupchat' id='g1'><body>Harpier cries: 'tis time, 'tis time.</body></message>",
    "<presence to='coven@muc.localhost/thirdwitch'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='20'/></x></presence>",
    "<message to='juliet@localhost'><body>&lt;&amp;&gt;&apos;&quot; &#x263A; &#9731;</body></message>",
    "<message to='juliet@localhost'><body><![CDATA[<not xml>]]></body></message>",
    "<message to='juliet@localhost' xml:lang='fr'><body xml:lang='en'>Hi</body><body>Salut</body></message>",
    "<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p style='font-weight:bold'>hi</p></body></html></message>",
    "<message to='juliet@localhost' id='rcpt'><request xmlns='urn:xmpp:receipts'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "<iq type='set' id='cmd1' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='http://jabber.org/protocol/admin#add-user' action='execute'/></iq>",
    "<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>",
    # invalid stanzas
    "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='get' id='two'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='nope' id='x'/>",
    "<iq type='result' id='r'/>",
    "<iq type='error' id='e'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    "<message from='romeo@montague.net/orchard'><body>forged</body></message>",
    "<message from='juliet@localhost/other'><body>other resource</body></message>",
    "<message to='@localhost'><body>bad to</body></message>",
    "<message to='juliet@'><body>bad to</body></message>",
    "<message to='a@b@c'><body>bad to</body></message>",
    "<message to='juliet@localhost/'><body>empty resource</body></message>",
    "<message to='" + "x" * 1100 + "@localhost'><body>long local</body></message>",
    "<message to='juliet@localhost' type='error'><error type='cancel'/></message>",
    "<foo xmlns='jabber:client'/>",
    "<message xmlns='jabber:server' to='juliet@localhost'/>",
    "<r xmlns='urn:xmpp:sm:3'/>",
    "<enable xmlns='urn:xmpp:sm:3' resume='true'/>",
    "<a xmlns='urn:xmpp:sm:3' h='4294967295'/>",
    "<active xmlns='urn:xmpp:csi:0'/>",
    "<inactive xmlns='urn:xmpp:csi:0'/>",
    "<unknown xmlns='urn:example:nonza'/>",
    "<x:message xmlns:x='jabber:client' to='juliet@localhost'><x:body>prefixed</x:body></x:message>",
    "<message xmlns:a='urn:a' a:attr='1' to='juliet@localhost'><a:ext/></message>",
    "<message to='juliet@localhost'><body xmlns=''>empty ns</body></message>",
    "<message to='juliet@localhost'><thread parent='e0ffe42b28561960c6b12b944a092794b9683a38'>7edb</thread></message>",
    " ",
    "\n\n",
]

# --- Malformed XML: the hostile cases of issue 9 ------------------------------------------------------
LAUGHS = ("<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
          "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>")
MALFORMED_STREAMS = [
    "<?xml version='1.0'?>" + LAUGHS + "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='%s' version='1.0'>&lol3;" % STREAM_NS,
    "<?xml version='1.0'?><!DOCTYPE x SYSTEM 'file:///etc/passwd'><stream:stream xmlns:stream='%s'/>" % STREAM_NS,
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><stream:stream xmlns:stream='%s'>&xxe;" % STREAM_NS,
    HEADER + "<!-- a comment -->",
    HEADER + "<?php echo 1; ?>",
    HEADER + "<message><body>&undefined;</body></message>",
    HEADER + "<message><body>&#0;</body></message>",
    HEADER + "<message><body>&#xFFFE;</body></message>",
    HEADER + "<message><body>&#xD800;</body></message>",
    HEADER + "<message><body>" + "\u0000" + "</body></message>",
    HEADER + "<message><body>" + "\ufffe" + "</body></message>",
    HEADER + "<message><body>" + "<a>" * 100 + "</a>" * 100 + "</body></message>",
    HEADER + "<a>" * 5000,
    HEADER + "<message " + " ".join("a%d='1'" % i for i in range(200)) + "/>",
    HEADER + "<message a='1' a='2'/>",
    HEADER + "<message><body>unclosed",
    HEADER + "<message></presence>",
    HEADER + "</stream:stream>",
    HEADER + "</stream:stream><message/>",
    HEADER + HEADER,
    HEADER + "<stream:stream xmlns:stream='%s'>" % STREAM_NS,
    HEADER + "<p:message xmlns:p=''/>",
    HEADER + "<undeclared:message/>",
    HEADER + "<message xmlns:xml='urn:wrong'/>",
    HEADER + "<message xmlns:xmlns='urn:wrong'/>",
    HEADER + "<stream:features/>",
    HEADER + "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    HEADER + "<message><body>" + "x" * 20000 + "</body></message>",
    HEADER + "<message to='" + "y" * 20000 + "'/>",
    "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream xmlns:stream='%s'>" % STREAM_NS,
    "<?xml version='1.0' encoding='UTF-16'?><stream:stream xmlns:stream='%s'>" % STREAM_NS,
    "<?xml version='1.1'?><stream:stream xmlns:stream='%s'>" % STREAM_NS,
    "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='%s' version='1.0'>" % STREAM_NS,
    "<stream to='localhost' xmlns='jabber:client' version='1.0'>",
    "<stream:stream to='localhost' xmlns='jabber:server' xmlns:stream='%s' version='1.0'>" % STREAM_NS,
    "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='urn:wrong' version='1.0'>",
    "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='%s'>" % STREAM_NS,
    "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='%s' version='0.9'>" % STREAM_NS,
    "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='%s' version='99999999999.0'>" % STREAM_NS,
    "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='%s' version='1.0.0.0'>" % STREAM_NS,
    "<stream:stream to='other.example' xmlns='jabber:client' xmlns:stream='%s' version='1.0'>" % STREAM_NS,
    "<stream:stream to='LOCALHOST.' xmlns='jabber:client' xmlns:stream='%s' version='1.0'>" % STREAM_NS,
    "<stream:stream from='juliet@localhost' to='localhost' xmlns='jabber:client' xmlns:stream='%s' version='1.0'>" % STREAM_NS,
    "\xef\xbb\xbf" + HEADER,
    "   \n" + HEADER,
    HEADER[:40],
    "\x80\x81\x82",
    "<\xc0\xaf/>",
    "<message>\xed\xa0\x80</message>",
    "",
]


def bytes_of(s):
    """str -> bytes; \\xNN characters < 0x100 in the malformed list become raw bytes when they are not
    valid text on their own (lone continuation bytes, overlong forms)."""
    if isinstance(s, bytes):
        return s
    return s.encode("utf-8", "surrogatepass")


RAW_BAD_UTF8 = [b"\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf8\x88\x80\x80\x80", b"\xed\xa0\x80", b"\xef\xbf\xbe",
                b"\xf4\x90\x80\x80", b"\xff", b"\xc3"]


def xml_stream():
    docs = [HEADER + s for s in STANZAS]
    docs.append(HEADER + "".join(STANZAS[:20]) + "</stream:stream>")
    docs += MALFORMED_STREAMS
    out = [bytes_of(d) for d in docs]
    for bad in RAW_BAD_UTF8:
        out.append(bytes_of(HEADER + "<message><body>") + bad + b"</body></message>")
        out.append(bytes_of(HEADER + "<message to='") + bad + b"'/>")
    for i, d in enumerate(out):
        for mode in (0, 1 + 2 * (i % 8), 0x10 | (i % 16), 0x2F):
            put("xml_stream", bytes([mode]) + d)


def c2s_sessions():
    """Recorded sessions (as a client sends them) for the c2s_stream target."""
    pre = [
        [HEADER],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("\0juliet\0pencil")), HEADER,
         "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>", "<presence/>",
         "<message to='juliet@localhost'><body>hi</body></message>", "</stream:stream>"],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("\0juliet\0wrong"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("juliet@localhost\0juliet\0pencil"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("romeo@localhost\0juliet\0pencil"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("\0nobody\0pencil"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("\0disabled\0pencil"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("\0error\0pencil"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("\0locked\0pencil"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>!!!notbase64</auth>" % SASL],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>=</auth>" % SASL],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'/>" % SASL, "<response xmlns='%s'>%s</response>" % (SASL, b64("\0juliet\0pencil"))],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'/>" % SASL, "<abort xmlns='%s'/>" % SASL],
        [HEADER, "<auth xmlns='%s' mechanism='X-UNKNOWN'/>" % SASL],
        [HEADER, "<auth xmlns='%s' mechanism='SCRAM-SHA-256-PLUS'>%s</auth>" % (SASL, b64("p=tls-exporter,,n=juliet,r=abc"))],
        [HEADER, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"],
        [HEADER, "<message to='juliet@localhost'><body>before auth</body></message>"],
        [HEADER, "<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>"],
        [HEADER, "<iq type='set' id='reg2'><query xmlns='jabber:iq:register'><username>x</username></query></iq>"],
        [HEADER, "<response xmlns='%s'>AAAA</response>" % SASL],
        [HEADER, "<success xmlns='%s'/>" % SASL],
        [HEADER, " ", " ", "\n", "</stream:stream>"],
        [HEADER, "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, "A" * 12000)],
    ]
    for alg in ("SHA-1", "SHA-256", "SHA-512"):
        for user in ("juliet", "nobody", "Juliet", "jul=2Ciet", "jul=3Diet", "jul=ZZiet", ""):
            first = "n,,n=%s,r=fyko+d2lbbFgONRv9qkxdawL" % user
            final = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
            pre.append([HEADER, "<auth xmlns='%s' mechanism='SCRAM-%s'>%s</auth>" % (SASL, alg, b64(first)),
                        "<response xmlns='%s'>%s</response>" % (SASL, b64(final))])
    for first in ("y,,n=juliet,r=abc", "n,a=juliet@localhost,n=juliet,r=abc", "n,a=romeo@localhost,n=juliet,r=abc",
                  "p=tls-unique,,n=juliet,r=abc", "n,,m=ext,n=juliet,r=abc", "n,,n=juliet", "x,,n=juliet,r=abc", ",,,,"):
        pre.append([HEADER, "<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>" % (SASL, b64(first)),
                    "<response xmlns='%s'>%s</response>" % (SASL, b64("c=biws,r=abc,p=AAAA"))])
    for m in MALFORMED_STREAMS:
        pre.append([m])
    post = [[s] for s in STANZAS]
    post.append(STANZAS[:30])
    post.append(["<r xmlns='urn:xmpp:sm:3'/>"] + ["<message to='juliet@localhost'><body>%d</body></message>" % i for i in range(40)])
    # (The 256 KiB stanza limit after authentication is tested end to end in SizeLimitsTest; seeds stay
    # small so that the fuzzer runs fast.)
    post.append(["</stream:stream>"])
    post.append([HEADER])
    post.append(["<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, b64("\0juliet\0pencil"))])
    post.append(["<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>again</resource></bind></iq>"])
    for m in MALFORMED_STREAMS[3:30]:
        post.append([m[len(HEADER):] if m.startswith(HEADER) else m])

    def tcp(mode, messages):
        data = b"".join(bytes_of(m) for m in messages)
        for seed in (0, 1 + len(data) % 200):
            put("c2s_stream", bytes([mode, seed]) + data)

    def framed(mode, messages):
        conv = []
        for m in messages:
            if m == HEADER:
                conv.append(OPEN)
            elif m == "</stream:stream>":
                conv.append("<close xmlns='%s'/>" % FRAMING)
            elif m.startswith("<") and not m.startswith("<?") and not m.startswith("<!"):
                # RFC 7395 §3.3.3: every message declares its namespace.
                name_end = min(i for i in (m.find(" "), m.find(">"), m.find("/")) if i > 0)
                if "xmlns='" in m[:m.find(">")]:
                    conv.append(m)
                else:
                    conv.append(m[:name_end] + " xmlns='jabber:client'" + m[name_end:])
            else:
                conv.append(m)
        put("c2s_stream", bytes([mode]) + b"\xff".join(bytes_of(m) for m in conv))

    for s in pre:
        tcp(0, s)
        tcp(4, s)
        framed(1, s)
    for s in post:
        tcp(2, s)
        framed(3, s)


JIDS = [
    "juliet@example.com", "juliet@example.com/foo", "juliet@example.com/foo bar", "juliet@example.com/foo@bar",
    "foo\\20bar@example.com", "fussball@example.com", "fu\u00dfball@example.com", "\u03c0@example.com",
    "\u03a3@example.com/foo", "\u03c3@example.com/foo", "\u03c2@example.com/foo", "king@example.com/\u265a",
    "example.com", "example.com/foobar", "a.example.com/b@example.net", "EXAMPLE.com", "example.com.",
    "juliet@[::1]", "juliet@192.0.2.1", "juliet@xn--bcher-kva.example", "juliet@b\u00fccher.example",
    "\"juliet\"@example.com", "foo bar@example.com", "juliet@example.com/", "@example.com/", "henry\u2163@example.com",
    "\u265a@example.com", "juliet@", "@example.com", "a@b@c", "juliet@exa mple.com", "juliet@.example.com",
    "juliet@example..com", "/resource", "", "@", "/", "a" * 1023 + "@example.com", "a" * 1024 + "@example.com",
    "juliet@" + "d" * 1024, "juliet@example.com/" + "r" * 1024, "juliet@example.com/" + "\u00e9" * 600,
    "\u0000@example.com", "juliet@example.com/\u0000", "\u200b@example.com", "juliet@example.com/\u200b",
    "\u0627\u0644\u0639@example.com", "a\u0627@example.com", "\u1100\u1161@example.com", "\uffff@example.com",
    "juliet@exam\u00adple.com", "juliet@\u0131.example", "I\u0307@example.com", "\u2132@example.com",
    "\u1e9e@example.com", "\u01c5@example.com", "\u0345@example.com", "\u0130@example.com", "\u00df\u00df@example.com",
    "juliet@\u3002example\u3002com", "juliet@example\uff0ecom", "juliet@-example.com", "juliet@example-.com",
    "juliet@localhost", "JULIET@LOCALHOST/Balcony", "\ufb00@example.com", "\u2460@example.com",
]


def jids():
    for j in JIDS:
        put("jid", j)
    for bad in RAW_BAD_UTF8:
        put("jid", b"juliet" + bad + b"@example.com")
        put("jid", b"juliet@example.com/" + bad)
        put("jid", b"juliet@ex" + bad + b"ample.com")


def scram():
    # RFC 5802 §5 (SHA-1) and RFC 7677 §3 (SHA-256) exchanges, then variations and damage.
    firsts = ["n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
              "y,,n=user,r=abc", "p=tls-exporter,,n=user,r=abc", "p=tls-server-end-point,,n=user,r=abc",
              "p=tls-unique,,n=user,r=abc", "n,a=user@localhost,n=user,r=abc", "n,a=,n=user,r=abc",
              "n,a=us=2Cer,n=us=3Der,r=abc", "n,,n=us=ZZer,r=abc", "n,,n=,r=abc", "n,,n=user,r=",
              "n,,m=ext,n=user,r=abc", "n,,n=user,r=abc,e=ext", "n,,r=abc,n=user", "n,n=user,r=abc", "n", "",
              "n,,n=\u00e9l\u00e8ve,r=abc", "n,,n=user,r=a,b", "F,,n=user,r=abc", "n,,n=user,r=\x01\x02"]
    finals = ["c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
              "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
              "c=eSws,r=abc3rfcNHYJY1ZVvWVs7j,p=AAAA", "c=cD10bHMtZXhwb3J0ZXIsLEVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVF,r=abc3rfcNHYJY1ZVvWVs7j,p=AAAA",
              "c=biws,r=wrong,p=AAAA", "c=biws,r=abc3rfcNHYJY1ZVvWVs7j", "c=biws,r=abc3rfcNHYJY1ZVvWVs7j,p=!!!",
              "c=!!!,r=abc3rfcNHYJY1ZVvWVs7j,p=AAAA", "r=abc3rfcNHYJY1ZVvWVs7j,c=biws,p=AAAA",
              "c=biws,r=abc3rfcNHYJY1ZVvWVs7j,x=ext,p=AAAA", "c=biws,r=abc3rfcNHYJY1ZVvWVs7j,p=AAAA,extra", "", ","]
    server_firsts = ["r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                     "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=1", "r=other,s=AAAA,i=4096",
                     "r=fyko+d2lbbFgONRv9qkxdawL3,s=!!!,i=4096", "r=fyko+d2lbbFgONRv9qkxdawL3,s=AAAA,i=0",
                     "r=fyko+d2lbbFgONRv9qkxdawL3,s=AAAA,i=99999999999999", "r=fyko+d2lbbFgONRv9qkxdawL3,s=AAAA,i=-1",
                     "m=ext,r=fyko+d2lbbFgONRv9qkxdawL3,s=AAAA,i=1", "e=invalid-proof", ""]
    i = 0
    for f in firsts:
        for fin in finals:
            i += 1
            mode = i % 128
            sf = server_firsts[i % len(server_firsts)]
            put("scram", bytes([mode]) + bytes_of(f) + b"\0" + bytes_of(fin) + b"\0" + bytes_of(sf))
    for p in ["\0user\0pencil", "authz\0user\0pencil", "\0\0", "\0user\0", "user\0pencil", "\0user\0pen\0cil",
              "\0user\0\u00a0pencil\u2168", "\0user\0\u0007", "\0\u0627a\0pencil"]:
        put("scram", b"\x01" + bytes_of(p))


FORM_FIELDS = [
    "<field var='FORM_TYPE' type='hidden'><value>urn:parley:fuzz</value></field>",
    "<field var='text'><value>hello</value></field>",
    "<field var='password' type='text-private'><value>secret</value></field>",
    "<field var='lines' type='text-multi'><value>one</value><value>two</value></field>",
    "<field var='jid'><value>juliet@example.com</value></field>",
    "<field var='jids'><value>a@example.com</value><value>b@example.com/r</value></field>",
    "<field var='flag'><value>true</value></field>",
    "<field var='one'><value>a</value></field>",
    "<field var='many'><value>a</value><value>c</value></field>",
    "<field var='secret'><value>s</value></field>",
]
BAD_FIELDS = [
    "<field var='text'><value>a</value><value>b</value></field>",
    "<field var='text'><value>" + "x" * 65 + "</value></field>",
    "<field var='text'/>", "<field var='jid'><value>not a jid@</value></field>",
    "<field var='jid'><value>a@b</value><value>c@d</value></field>",
    "<field var='jids'><value>@bad</value></field>", "<field var='flag'><value>maybe</value></field>",
    "<field var='flag'><value>0</value><value>1</value></field>", "<field var='one'><value>z</value></field>",
    "<field var='many'><value>a</value><value>z</value></field>", "<field><value>no var</value></field>",
    "<field var='text'><value><b>nested</b></value></field>", "<field var='unknown'><value>x</value></field>",
    "<field var='text' type='jid-single'><value>hello</value></field>",
    "<field var='lines'>" + "<value>v</value>" * 1001 + "</field>",
]


def forms():
    ok = "".join(FORM_FIELDS)
    put("forms", "<x xmlns='jabber:x:data' type='submit'>%s</x>" % ok)
    put("forms", "<command xmlns='http://jabber.org/protocol/commands' node='n' sessionid='s'>"
                 "<x xmlns='jabber:x:data' type='submit'>%s</x></command>" % ok)
    for t in ("form", "result", "cancel", "", "bogus"):
        put("forms", "<x xmlns='jabber:x:data' type='%s'>%s</x>" % (t, ok))
    put("forms", "<x xmlns='jabber:x:data' type='submit'/>")
    put("forms", "<x xmlns='jabber:x:data'/>")
    put("forms", "<x xmlns='urn:wrong' type='submit'>%s</x>" % ok)
    put("forms", "<command xmlns='http://jabber.org/protocol/commands'/>")
    for i, f in enumerate(FORM_FIELDS):
        put("forms", "<x xmlns='jabber:x:data' type='submit'>%s</x>" % "".join(FORM_FIELDS[:i] + FORM_FIELDS[i + 1:]))
    for b in BAD_FIELDS:
        put("forms", "<x xmlns='jabber:x:data' type='submit'>%s%s</x>" % (ok, b))
        put("forms", "<x xmlns='jabber:x:data' type='submit'>%s%s</x>" % (b, ok))
    for v in ("1", "0", "false", "TRUE", " true", ""):
        put("forms", "<x xmlns='jabber:x:data' type='submit'>%s<field var='flag'><value>%s</value></field></x>" % (FORM_FIELDS[1], v))
    for j in JIDS[:40]:
        put("forms", "<x xmlns='jabber:x:data' type='submit'>%s<field var='jid'><value>%s</value></field></x>" % (FORM_FIELDS[1], j.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")))


def http():
    idhex = "0123456789abcdef0123456789abcdef"
    reqs = [
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer abc\r\n\r\n",
        "GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /.well-known/host-meta.json HTTP/1.0\r\n\r\n",
        "GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n",
        "PUT /upload/%s/tr%%C3%%A8s%%20cool.jpg?e=1900000000&s=abcdef HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: image/jpeg\r\nContent-Length: 23456\r\n\r\n" % idhex,
        "PUT /upload/%s/a.txt?e=1900000000&s=abc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        "Expect: 100-continue\r\n\r\nhello" % idhex,
        "PUT /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-99\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=-500\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=9500-\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-0,-1\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=999999999999999999-\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=5-1\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=-0\r\n\r\n" % idhex,
        "GET /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: items=0-5\r\n\r\n" % idhex,
        "HEAD /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /upload/%s/..%%2F..%%2Fetc%%2Fpasswd HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/%%2e%%2e HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/. HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/a%%00b HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/a%%zzb HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/a%% HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/ HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/x HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex.upper(),
        "GET /upload/%s/x HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex[:31],
        "GET /upload/%s/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (idhex, "n" * 300 + ".jpeg"),
        "GET /upload/%s/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (idhex, "%C3%A9" * 100 + ".jpeg"),
        "GET /upload/%s/%%E2%%80%%AEgpj.exe HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/a%%5Cb HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET /upload/%s/%%FF%%FE HTTP/1.1\r\nHost: localhost\r\n\r\n" % idhex,
        "GET http://localhost/upload/x HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "OPTIONS /upload/%s/a.txt HTTP/1.1\r\nHost: localhost\r\nOrigin: https://example.com\r\n"
        "Access-Control-Request-Method: PUT\r\n\r\n" % idhex,
        "GET /?a=1&b=%%zz&e=%%31&s=&&=x&e=2 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nX-Forwarded-Proto: https\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "GET /x HTTP/1.1\r\n" + "X-Big: " + "a" * 17000 + "\r\n\r\n",
        "GET /x HTTP/1.1\r\n" + "".join("H%d: v\r\n" % i for i in range(300)) + "\r\n",
        "GET /x HTTP/1.1\nHost: localhost\n\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\n folded\r\n\r\n",
        "GET /x HTTP/1.1\r\nHo st: localhost\r\n\r\n",
        "GET /x HTTP/2.0\r\n\r\n",
        "GET /x HTTP/1.1 extra\r\n\r\n",
        "get /x HTTP/1.1\r\n\r\n",
        "BREW /pot HTTP/1.1\r\n\r\n",
        " / HTTP/1.1\r\n\r\n",
        "GET\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\nContent-Type: IMAGE/PNG; charset=utf-8\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/html\x7f\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n",
    ]
    for i, r in enumerate(reqs):
        data = bytes_of(r)
        put("http_request", b"\x00" + data)
        put("http_request", bytes([1 + i % 250]) + data)
    for ct in ("image/jpeg", "image/svg+xml", "text/html", "application/octet-stream", "video/mp4; codecs=avc1",
               "/", "a/", "/b", "a b/c", "", "x" * 201 + "/y"):
        put("http_request", bytes_of("\x00PUT /upload/%s/f.bin?e=1&s=2 HTTP/1.1\r\nContent-Type: %s\r\n\r\n" % (idhex, ct)))


# --- TLS 1.3 records after the handover: commands of tests/fuzz/targets/tls_records.cpp -------------
def tls_records():
    def rec(ctype, plain):
        return bytes([0x00, ctype, len(plain) >> 8, len(plain) & 0xff]) + plain

    def raw(b):
        return bytes([0x80 | len(b)]) + b

    stanza = b"<message to='juliet@localhost'><body>hi</body></message>"
    key_update_requested = bytes([24, 0, 0, 1, 1])
    cases = [
        rec(23, b"<stream:stream to='localhost'>") + rec(23, stanza),
        rec(23, b""),                                       # an empty application-data record
        rec(22, key_update_requested),                      # answered by the server's own KeyUpdate
        rec(22, bytes([24, 0, 0, 1, 0])) + rec(23, stanza),  # the client did not switch: bad_record_mac
        rec(22, bytes([24, 0])) + rec(22, bytes([0, 1, 1])),  # split over two records
        rec(22, bytes([24, 0])) + rec(23, stanza),           # interleaved with a split message
        rec(22, key_update_requested * 2),                  # a key change not at a record end
        rec(22, bytes([4, 0, 0, 1, 0])),                    # NewSessionTicket from a client
        rec(21, bytes([1, 0])),                             # close_notify
        rec(21, bytes([2, 20, 0])),                         # a malformed alert
        rec(0, b"\0\0\0"),                                # no content type at all
        raw(bytes([0x14, 3, 3, 0, 1, 1])),                  # change_cipher_spec after the handshake
        raw(bytes([0x17, 3, 3, 0x41, 0x01])),               # oversize
        raw(bytes([0x17, 3, 1, 0, 0x11]) + bytes(17)),      # wrong version
        raw(bytes([0x17, 3, 3, 0, 0x20]) + bytes(32)),      # a forgery
        rec(23, stanza) + raw(bytes([0x17, 3, 3, 0, 0x30]) + bytes(10)),  # truncated
    ]
    for c in cases:
        for suite in (0, 1, 2):
            put("tls_records", bytes([suite]) + c)


def main():
    xml_stream()
    c2s_sessions()
    jids()
    scram()
    forms()
    http()
    tls_records()
    # Old seeds this run did not write again go (regress-* files are never touched).
    total = 0
    for target, names in written.items():
        d = os.path.join(ROOT, target)
        for f in os.listdir(d):
            if f.startswith("seed-") and f not in names:
                os.remove(os.path.join(d, f))
        total += len(names)
        print("%-14s %4d seeds" % (target, len(names)))
    print("total          %4d" % total)


if __name__ == "__main__":
    sys.exit(main())
