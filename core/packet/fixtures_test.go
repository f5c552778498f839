package packet_test

import (
	"bytes"

	"github.com/mqttless/mqttless/core/packet"
)

// goldenCase is one packet in its wire form, annotated field by field, and
// the value it decodes to. TestDecodeGolden decodes raw and expects pkt;
// TestEncodeGolden appends pkt and expects raw.
type goldenCase struct {
	name    string
	version packet.Version
	raw     []byte
	pkt     packet.Packet
	// decodeOnly: raw decodes to pkt, but Append writes pkt in another
	// (canonical, shortest) form, so raw is not what encoding gives.
	decodeOnly bool
	// encodeOnly: Append writes pkt as raw, but raw decodes to another value
	// because the wire form cannot carry all of pkt (a documented
	// normalisation, such as 3.1.1 having no reason codes).
	encodeOnly bool
}

// goldenProps returns p with the scalar, string and binary properties ids
// marked present, which is how a decoded Properties looks.
func goldenProps(p packet.Properties, ids ...packet.PropertyID) packet.Properties {
	for _, id := range ids {
		p.Set(id)
	}
	return p
}

// goldenCat concatenates byte slices, for fixtures with long payloads.
func goldenCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// goldenCases is the one table of golden packets, modelled on mochi-mqtt's
// packets/tpackets.go. Every packet type appears at levels 4 and 5 (AUTH at
// 5 only), plus a level-3 CONNECT.
var goldenCases = []goldenCase{
	// ---------------------------------------------------------------- CONNECT
	{
		name:    "CONNECT/3.1/MQIsdp",
		version: packet.V31,
		raw: []byte{
			0x10, 0x10, // CONNECT, remaining length 16
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
			0x03,       // protocol level 3
			0x02,       // flags: clean session
			0x00, 0x1e, // keep alive 30
			0x00, 0x02, 'c', '1', // client identifier "c1"
		},
		pkt: &packet.Connect{ProtocolName: "MQIsdp", Version: packet.V31, CleanStart: true, KeepAlive: 30, ClientID: "c1"},
	},
	{
		name:    "CONNECT/3.1.1/minimal",
		version: packet.V311,
		raw: []byte{
			0x10, 0x14, // CONNECT, remaining length 20
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x02,       // flags: clean session
			0x00, 0x3c, // keep alive 60
			0x00, 0x08, 'm', 'q', 't', 't', 'l', 'e', 's', 's', // client identifier "mqttless"
		},
		pkt: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: "mqttless"},
	},
	{
		name:    "CONNECT/3.1.1/empty client id",
		version: packet.V311,
		raw: []byte{
			0x10, 0x0c, // CONNECT, remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x02,       // flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client identifier "" [MQTT-3.1.3-6]
		},
		pkt: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true},
	},
	{
		name:    "CONNECT/3.1.1/will+username+password",
		version: packet.V311,
		raw: []byte{
			0x10, 0x24, // CONNECT, remaining length 36
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0xee,       // flags: user name, password, will retain, will QoS 1, will, clean session
			0x00, 0x0a, // keep alive 10
			0x00, 0x02, 'i', 'd', // client identifier "id"
			0x00, 0x03, 'l', 'w', 't', // will topic "lwt"
			0x00, 0x03, 'b', 'y', 'e', // will payload "bye"
			0x00, 0x04, 'u', 's', 'e', 'r', // user name "user"
			0x00, 0x04, 'p', 'a', 's', 's', // password "pass"
		},
		pkt: &packet.Connect{
			ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, KeepAlive: 10, ClientID: "id",
			Will:         &packet.Will{QoS: 1, Retain: true, Topic: "lwt", Payload: []byte("bye")},
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pass"),
		},
	},
	{
		name:    "CONNECT/3.1.1/username and empty password",
		version: packet.V311,
		raw: []byte{
			0x10, 0x12, // CONNECT, remaining length 18
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0xc0,       // flags: user name, password; no clean session
			0x00, 0x3c, // keep alive 60
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 'u', // user name "u"
			0x00, 0x00, // password, empty
		},
		pkt: &packet.Connect{
			ProtocolName: "MQTT", Version: packet.V311, KeepAlive: 60, ClientID: "c",
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte{},
		},
	},
	{
		name:    "CONNECT/5.0/minimal",
		version: packet.V5,
		raw: []byte{
			0x10, 0x0e, // CONNECT, remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // flags: clean start
			0x00, 0x3c, // keep alive 60
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
		},
		pkt: &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: "c"},
	},
	{
		name:    "CONNECT/5.0/will properties+username+password",
		version: packet.V5,
		raw: []byte{
			0x10, 0x56, // CONNECT, remaining length 86
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0xd6,       // flags: user name, password, will QoS 2, will, clean start
			0x00, 0x1e, // keep alive 30
			0x05,                         // property length 5
			0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0, present
			0x00, 0x03, 'a', 'b', 'c', // client identifier "abc"
			0x2c,       // will property length 44
			0x01, 0x01, // payload format indicator 1
			0x02, 0x00, 0x00, 0x0e, 0x10, // message expiry interval 3600
			0x03, 0x00, 0x0a, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', // content type "text/plain"
			0x08, 0x00, 0x04, 'r', 'e', 's', 'p', // response topic "resp"
			0x09, 0x00, 0x02, 'c', 'd', // correlation data "cd"
			0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x06, 'w', 'i', 'l', 'l', '/', 't', // will topic "will/t"
			0x00, 0x04, 'g', 'o', 'n', 'e', // will payload "gone"
			0x00, 0x01, 'u', // user name "u"
			0x00, 0x01, 'p', // password "p"
		},
		pkt: &packet.Connect{
			ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 30,
			Properties: goldenProps(packet.Properties{}, packet.PropSessionExpiry),
			ClientID:   "abc",
			Will: &packet.Will{
				QoS: 2,
				Properties: goldenProps(packet.Properties{
					PayloadFormat: 1, MessageExpiry: 3600, ContentType: "text/plain", ResponseTopic: "resp",
					CorrelationData: []byte("cd"), WillDelay: 5, User: []packet.UserProperty{{Key: "k", Value: "v"}},
				}, packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType,
					packet.PropResponseTopic, packet.PropCorrelationData, packet.PropWillDelay),
				Topic:   "will/t",
				Payload: []byte("gone"),
			},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p"),
		},
	},
	{
		name:    "CONNECT/5.0/many properties",
		version: packet.V5,
		raw: []byte{
			0x10, 0x3e, // CONNECT, remaining length 62
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // flags: clean start
			0x00, 0x3c, // keep alive 60
			0x2f,                         // property length 47
			0x11, 0x00, 0x00, 0x00, 0x78, // session expiry interval 120
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method "SCRAM"
			0x16, 0x00, 0x02, 0x01, 0x02, // authentication data 01 02
			0x17, 0x00, // request problem information 0, present
			0x19, 0x01, // request response information 1
			0x21, 0x00, 0x14, // receive maximum 20
			0x22, 0x00, 0x00, // topic alias maximum 0, present
			0x27, 0x00, 0x00, 0x04, 0x00, // maximum packet size 1024
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', // user property a=1
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2', // user property a=2 (same name, order kept)
			0x00, 0x02, 'c', '5', // client identifier "c5"
		},
		pkt: &packet.Connect{
			ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 60,
			Properties: goldenProps(packet.Properties{
				SessionExpiry: 120, AuthMethod: "SCRAM", AuthData: []byte{1, 2}, RequestProblemInfo: 0,
				RequestResponseInfo: 1, ReceiveMaximum: 20, TopicAliasMaximum: 0, MaximumPacketSize: 1024,
				User: []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}},
			}, packet.PropSessionExpiry, packet.PropAuthMethod, packet.PropAuthData, packet.PropRequestProblemInfo,
				packet.PropRequestResponseInfo, packet.PropReceiveMaximum, packet.PropTopicAliasMaximum,
				packet.PropMaximumPacketSize),
			ClientID: "c5",
		},
	},
	{
		// At 5.0 a password may be sent without a user name (section
		// 3.1.2.9); at 3.1.1 it may not (see the malformed table).
		name:    "CONNECT/5.0/password without username",
		version: packet.V5,
		raw: []byte{
			0x10, 0x16, // CONNECT, remaining length 22
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x42,       // flags: password, clean start
			0x00, 0x00, // keep alive 0
			0x00,            // property length 0
			0x00, 0x01, 'x', // client identifier "x"
			0x00, 0x06, 's', 'e', 'c', 'r', 'e', 't', // password "secret"
		},
		pkt: &packet.Connect{
			ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, ClientID: "x",
			PasswordFlag: true, Password: []byte("secret"),
		},
	},

	// ---------------------------------------------------------------- CONNACK
	{
		name:    "CONNACK/3.1.1/accepted, session present",
		version: packet.V311,
		raw: []byte{
			0x20, 0x02, // CONNACK, remaining length 2
			0x01, // acknowledge flags: session present
			0x00, // return code 0, accepted
		},
		pkt: &packet.Connack{SessionPresent: true, ReasonCode: packet.Success},
	},
	{
		name:    "CONNACK/3.1.1/not authorized",
		version: packet.V311,
		raw: []byte{
			0x20, 0x02, // CONNACK, remaining length 2
			0x00, // acknowledge flags
			0x05, // return code 5, not authorized
		},
		pkt: &packet.Connack{ReasonCode: packet.NotAuthorized},
	},
	{
		name:    "CONNACK/3.1.1/server unavailable",
		version: packet.V311,
		raw: []byte{
			0x20, 0x02, // CONNACK, remaining length 2
			0x00, // acknowledge flags
			0x03, // return code 3, server unavailable
		},
		pkt: &packet.Connack{ReasonCode: packet.ServerUnavailable},
	},
	{
		// 3.1.1 has no "banned": 0x8A is written as return code 5, which
		// decodes as 0x87; session present is cleared on a refusal
		// (3.1.1 [MQTT-3.2.2-4]).
		name:    "CONNACK/3.1.1/banned maps to return code 5",
		version: packet.V311,
		raw: []byte{
			0x20, 0x02, // CONNACK, remaining length 2
			0x00, // acknowledge flags: session present cleared
			0x05, // return code 5, not authorized
		},
		pkt:        &packet.Connack{SessionPresent: true, ReasonCode: packet.Banned},
		encodeOnly: true,
	},
	{
		name:    "CONNACK/5.0/minimal",
		version: packet.V5,
		raw: []byte{
			0x20, 0x03, // CONNACK, remaining length 3
			0x00, // acknowledge flags
			0x00, // reason code success
			0x00, // property length 0
		},
		pkt: &packet.Connack{ReasonCode: packet.Success},
	},
	{
		name:    "CONNACK/5.0/every property",
		version: packet.V5,
		raw: []byte{
			0x20, 0x56, // CONNACK, remaining length 86
			0x01,                         // acknowledge flags: session present
			0x00,                         // reason code success
			0x53,                         // property length 83
			0x11, 0x00, 0x00, 0x01, 0x2c, // session expiry interval 300
			0x12, 0x00, 0x06, 'a', 'u', 't', 'o', '-', '1', // assigned client identifier "auto-1"
			0x13, 0x00, 0x14, // server keep alive 20
			0x15, 0x00, 0x05, 'P', 'L', 'A', 'I', 'N', // authentication method "PLAIN"
			0x16, 0x00, 0x01, 0xaa, // authentication data aa
			0x1a, 0x00, 0x05, 'r', 'e', 's', 'p', '/', // response information "resp/"
			0x1c, 0x00, 0x0a, 'o', 't', 'h', 'e', 'r', ':', '1', '8', '8', '3', // server reference "other:1883"
			0x1f, 0x00, 0x02, 'o', 'k', // reason string "ok"
			0x21, 0x00, 0x64, // receive maximum 100
			0x22, 0x00, 0x0a, // topic alias maximum 10
			0x24, 0x01, // maximum QoS 1
			0x25, 0x00, // retain available 0, present
			0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
			0x28, 0x00, // wildcard subscription available 0
			0x29, 0x01, // subscription identifiers available 1
			0x2a, 0x00, // shared subscription available 0
			0x26, 0x00, 0x01, 'x', 0x00, 0x01, 'y', // user property x=y (written last)
		},
		pkt: &packet.Connack{
			SessionPresent: true,
			ReasonCode:     packet.Success,
			Properties: goldenProps(packet.Properties{
				SessionExpiry: 300, AssignedClientID: "auto-1", ServerKeepAlive: 20, AuthMethod: "PLAIN",
				AuthData: []byte{0xaa}, ResponseInfo: "resp/", ServerReference: "other:1883", ReasonString: "ok",
				ReceiveMaximum: 100, TopicAliasMaximum: 10, MaximumQoS: 1, RetainAvailable: 0,
				MaximumPacketSize: 65536, WildcardSubAvailable: 0, SubIDAvailable: 1, SharedSubAvailable: 0,
				User: []packet.UserProperty{{Key: "x", Value: "y"}},
			}, packet.PropSessionExpiry, packet.PropAssignedClientID, packet.PropServerKeepAlive,
				packet.PropAuthMethod, packet.PropAuthData, packet.PropResponseInfo, packet.PropServerReference,
				packet.PropReasonString, packet.PropReceiveMaximum, packet.PropTopicAliasMaximum,
				packet.PropMaximumQoS, packet.PropRetainAvailable, packet.PropMaximumPacketSize,
				packet.PropWildcardSubAvailable, packet.PropSubIDAvailable, packet.PropSharedSubAvailable),
		},
	},
	{
		name:    "CONNACK/5.0/refused with reason string",
		version: packet.V5,
		raw: []byte{
			0x20, 0x08, // CONNACK, remaining length 8
			0x00,                       // acknowledge flags
			0x87,                       // reason code 0x87 not authorized
			0x05,                       // property length 5
			0x1f, 0x00, 0x02, 'n', 'o', // reason string "no"
		},
		pkt: &packet.Connack{
			ReasonCode: packet.NotAuthorized,
			Properties: goldenProps(packet.Properties{ReasonString: "no"}, packet.PropReasonString),
		},
	},
	{
		// [MQTT-3.2.2-6]: session present is 0 with a non-zero reason code.
		name:    "CONNACK/5.0/session present cleared on refusal",
		version: packet.V5,
		raw: []byte{
			0x20, 0x03, // CONNACK, remaining length 3
			0x00, // acknowledge flags: session present cleared
			0x8a, // reason code 0x8A banned
			0x00, // property length 0
		},
		pkt:        &packet.Connack{SessionPresent: true, ReasonCode: packet.Banned},
		encodeOnly: true,
	},

	// ---------------------------------------------------------------- PUBLISH
	{
		name:    "PUBLISH/3.1/QoS 0",
		version: packet.V31,
		raw: []byte{
			0x30, 0x04, // PUBLISH QoS 0, remaining length 4
			0x00, 0x01, 'a', // topic name "a"
			'b', // payload "b"
		},
		pkt: &packet.Publish{Topic: "a", Payload: []byte("b")},
	},
	{
		name:    "PUBLISH/3.1.1/QoS 0",
		version: packet.V311,
		raw: []byte{
			0x30, 0x0a, // PUBLISH QoS 0, remaining length 10
			0x00, 0x03, 'a', '/', 'b', // topic name "a/b"
			'h', 'e', 'l', 'l', 'o', // payload "hello"
		},
		pkt: &packet.Publish{Topic: "a/b", Payload: []byte("hello")},
	},
	{
		name:    "PUBLISH/3.1.1/QoS 1 retain",
		version: packet.V311,
		raw: []byte{
			0x33, 0x06, // PUBLISH QoS 1 retain, remaining length 6
			0x00, 0x01, 't', // topic name "t"
			0x00, 0x07, // packet identifier 7
			'x', // payload "x"
		},
		pkt: &packet.Publish{QoS: 1, Retain: true, Topic: "t", PacketID: 7, Payload: []byte("x")},
	},
	{
		name:    "PUBLISH/3.1.1/QoS 1 dup",
		version: packet.V311,
		raw: []byte{
			0x3a, 0x05, // PUBLISH dup QoS 1, remaining length 5
			0x00, 0x01, 'd', // topic name "d"
			0x00, 0x08, // packet identifier 8, empty payload
		},
		pkt: &packet.Publish{Dup: true, QoS: 1, Topic: "d", PacketID: 8, Payload: []byte{}},
	},
	{
		name:    "PUBLISH/3.1.1/QoS 2 dup retain, empty payload",
		version: packet.V311,
		raw: []byte{
			0x3d, 0x07, // PUBLISH dup QoS 2 retain, remaining length 7
			0x00, 0x03, 't', '/', '2', // topic name "t/2"
			0x12, 0x34, // packet identifier 0x1234, empty payload
		},
		pkt: &packet.Publish{Dup: true, QoS: 2, Retain: true, Topic: "t/2", PacketID: 0x1234, Payload: []byte{}},
	},
	{
		// A BOM is a valid character and kept as it is [MQTT-1.5.4-3].
		name:    "PUBLISH/3.1.1/non-ASCII topic with BOM",
		version: packet.V311,
		raw: []byte{
			0x30, 0x07, // PUBLISH QoS 0, remaining length 7
			0x00, 0x05, 0xef, 0xbb, 0xbf, 0xc3, 0xa9, // topic name "\uFEFFé"
		},
		pkt: &packet.Publish{Topic: "\ufeffé", Payload: []byte{}},
	},
	{
		name:    "PUBLISH/3.1.1/two-byte remaining length",
		version: packet.V311,
		raw: goldenCat([]byte{
			0x30, 0xcd, 0x01, // PUBLISH QoS 0, remaining length 205
			0x00, 0x03, 'b', 'i', 'g', // topic name "big"
		}, bytes.Repeat([]byte{'x'}, 200)), // payload, 200 bytes
		pkt: &packet.Publish{Topic: "big", Payload: bytes.Repeat([]byte{'x'}, 200)},
	},
	{
		// 3.1.1 has no properties: Append leaves them out.
		name:    "PUBLISH/3.1.1/properties dropped",
		version: packet.V311,
		raw: []byte{
			0x30, 0x04, // PUBLISH QoS 0, remaining length 4
			0x00, 0x01, 't', // topic name "t"
			'p', // payload "p"
		},
		pkt: &packet.Publish{
			Topic: "t", Payload: []byte("p"),
			Properties: goldenProps(packet.Properties{MessageExpiry: 5}, packet.PropMessageExpiry),
		},
		encodeOnly: true,
	},
	{
		name:    "PUBLISH/5.0/QoS 0",
		version: packet.V5,
		raw: []byte{
			0x30, 0x05, // PUBLISH QoS 0, remaining length 5
			0x00, 0x01, 'a', // topic name "a"
			0x00, // property length 0
			'p',  // payload "p"
		},
		pkt: &packet.Publish{Topic: "a", Payload: []byte("p")},
	},
	{
		name:    "PUBLISH/5.0/QoS 2 every property",
		version: packet.V5,
		raw: []byte{
			0x34, 0x43, // PUBLISH QoS 2, remaining length 67
			0x00, 0x03, 's', '/', 'x', // topic name "s/x"
			0x00, 0x01, // packet identifier 1
			0x39,       // property length 57
			0x01, 0x01, // payload format indicator 1
			0x02, 0x00, 0x00, 0x00, 0x3c, // message expiry interval 60
			0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // content type "json"
			0x08, 0x00, 0x03, 'r', '/', '1', // response topic "r/1"
			0x09, 0x00, 0x03, 0x01, 0x02, 0x03, // correlation data 01 02 03
			0x23, 0x00, 0x05, // topic alias 5
			0x0b, 0x01, // subscription identifier 1
			0x0b, 0xac, 0x02, // subscription identifier 300
			0x26, 0x00, 0x01, 'k', 0x00, 0x02, 'v', '1', // user property k=v1
			0x26, 0x00, 0x01, 'k', 0x00, 0x02, 'v', '2', // user property k=v2
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
			'{', '}', // payload "{}"
		},
		pkt: &packet.Publish{
			QoS: 2, Topic: "s/x", PacketID: 1,
			Properties: goldenProps(packet.Properties{
				PayloadFormat: 1, MessageExpiry: 60, ContentType: "json", ResponseTopic: "r/1",
				CorrelationData: []byte{1, 2, 3}, TopicAlias: 5, SubscriptionIDs: []uint32{1, 300},
				User: []packet.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}, {Key: "a", Value: "b"}},
			}, packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType,
				packet.PropResponseTopic, packet.PropCorrelationData, packet.PropTopicAlias),
			Payload: []byte("{}"),
		},
	},
	{
		name:    "PUBLISH/5.0/empty topic with topic alias",
		version: packet.V5,
		raw: []byte{
			0x30, 0x07, // PUBLISH QoS 0, remaining length 7
			0x00, 0x00, // topic name "", stood for by the alias
			0x03,             // property length 3
			0x23, 0x00, 0x0a, // topic alias 10
			'z', // payload "z"
		},
		pkt: &packet.Publish{
			Properties: goldenProps(packet.Properties{TopicAlias: 10}, packet.PropTopicAlias),
			Payload:    []byte("z"),
		},
	},
	{
		name:    "PUBLISH/5.0/QoS 1 retain, properties present with value 0",
		version: packet.V5,
		raw: []byte{
			0x33, 0x0d, // PUBLISH QoS 1 retain, remaining length 13
			0x00, 0x01, 't', // topic name "t"
			0x00, 0x02, // packet identifier 2
			0x07,       // property length 7
			0x01, 0x00, // payload format indicator 0, present
			0x02, 0x00, 0x00, 0x00, 0x00, // message expiry interval 0, present
		},
		pkt: &packet.Publish{
			QoS: 1, Retain: true, Topic: "t", PacketID: 2,
			Properties: goldenProps(packet.Properties{}, packet.PropPayloadFormat, packet.PropMessageExpiry),
			Payload:    []byte{},
		},
	},
	{
		// Properties may come in any order; user properties keep theirs.
		// Append writes identifier order with user properties last.
		name:    "PUBLISH/5.0/properties out of order",
		version: packet.V5,
		raw: []byte{
			0x30, 0x14, // PUBLISH QoS 0, remaining length 20
			0x00, 0x01, 't', // topic name "t"
			0x10,                                   // property length 16
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x01, 0x01, // payload format indicator 1
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
		},
		pkt: &packet.Publish{
			Topic: "t",
			Properties: goldenProps(packet.Properties{
				PayloadFormat: 1, User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "a", Value: "b"}},
			}, packet.PropPayloadFormat),
			Payload: []byte{},
		},
		decodeOnly: true,
	},

	// ------------------------------------------------- PUBACK PUBREC PUBREL PUBCOMP
	{
		name:    "PUBACK/3.1.1",
		version: packet.V311,
		raw: []byte{
			0x40, 0x02, // PUBACK, remaining length 2
			0x00, 0x01, // packet identifier 1
		},
		pkt: &packet.Puback{PacketID: 1},
	},
	{
		// 3.1.1 acks carry no reason code or properties: Append drops them.
		name:    "PUBACK/3.1.1/reason code dropped",
		version: packet.V311,
		raw: []byte{
			0x40, 0x02, // PUBACK, remaining length 2
			0x00, 0x01, // packet identifier 1
		},
		pkt: &packet.Puback{
			PacketID: 1, ReasonCode: packet.NoMatchingSubscribers,
			Properties: goldenProps(packet.Properties{ReasonString: "x"}, packet.PropReasonString),
		},
		encodeOnly: true,
	},
	{
		name:    "PUBREC/3.1.1",
		version: packet.V311,
		raw: []byte{
			0x50, 0x02, // PUBREC, remaining length 2
			0x00, 0x02, // packet identifier 2
		},
		pkt: &packet.Pubrec{PacketID: 2},
	},
	{
		name:    "PUBREL/3.1.1",
		version: packet.V311,
		raw: []byte{
			0x62, 0x02, // PUBREL (flags 0010), remaining length 2
			0x00, 0x03, // packet identifier 3
		},
		pkt: &packet.Pubrel{PacketID: 3},
	},
	{
		name:    "PUBCOMP/3.1.1",
		version: packet.V311,
		raw: []byte{
			0x70, 0x02, // PUBCOMP, remaining length 2
			0x00, 0x04, // packet identifier 4
		},
		pkt: &packet.Pubcomp{PacketID: 4},
	},
	{
		name:    "PUBACK/5.0/short form",
		version: packet.V5,
		raw: []byte{
			0x40, 0x02, // PUBACK, remaining length 2: success, no properties
			0x00, 0x05, // packet identifier 5
		},
		pkt: &packet.Puback{PacketID: 5},
	},
	{
		name:    "PUBACK/5.0/reason code only",
		version: packet.V5,
		raw: []byte{
			0x40, 0x03, // PUBACK, remaining length 3: no properties
			0x00, 0x05, // packet identifier 5
			0x10, // reason code 0x10 no matching subscribers
		},
		pkt: &packet.Puback{PacketID: 5, ReasonCode: packet.NoMatchingSubscribers},
	},
	{
		name:    "PUBACK/5.0/explicit success",
		version: packet.V5,
		raw: []byte{
			0x40, 0x03, // PUBACK, remaining length 3
			0x00, 0x05, // packet identifier 5
			0x00, // reason code success, which Append leaves out
		},
		pkt:        &packet.Puback{PacketID: 5},
		decodeOnly: true,
	},
	{
		name:    "PUBACK/5.0/explicit success, empty properties",
		version: packet.V5,
		raw: []byte{
			0x40, 0x04, // PUBACK, remaining length 4
			0x00, 0x05, // packet identifier 5
			0x00, // reason code success
			0x00, // property length 0
		},
		pkt:        &packet.Puback{PacketID: 5},
		decodeOnly: true,
	},
	{
		name:    "PUBACK/5.0/long form",
		version: packet.V5,
		raw: []byte{
			0x40, 0x1b, // PUBACK, remaining length 27
			0x00, 0x05, // packet identifier 5
			0x87,                                           // reason code 0x87 not authorized
			0x17,                                           // property length 23
			0x1f, 0x00, 0x06, 'd', 'e', 'n', 'i', 'e', 'd', // reason string "denied"
			0x26, 0x00, 0x01, 'x', 0x00, 0x01, '1', // user property x=1
			0x26, 0x00, 0x01, 'x', 0x00, 0x01, '2', // user property x=2
		},
		pkt: &packet.Puback{
			PacketID: 5, ReasonCode: packet.NotAuthorized,
			Properties: goldenProps(packet.Properties{
				ReasonString: "denied", User: []packet.UserProperty{{Key: "x", Value: "1"}, {Key: "x", Value: "2"}},
			}, packet.PropReasonString),
		},
	},
	{
		name:    "PUBREC/5.0/short form",
		version: packet.V5,
		raw: []byte{
			0x50, 0x02, // PUBREC, remaining length 2
			0xff, 0xff, // packet identifier 65535
		},
		pkt: &packet.Pubrec{PacketID: 65535},
	},
	{
		name:    "PUBREC/5.0/long form",
		version: packet.V5,
		raw: []byte{
			0x50, 0x19, // PUBREC, remaining length 25
			0x00, 0x09, // packet identifier 9
			0x97,                                 // reason code 0x97 quota exceeded
			0x15,                                 // property length 21
			0x1f, 0x00, 0x04, 'f', 'u', 'l', 'l', // reason string "full"
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'c', // user property a=c
		},
		pkt: &packet.Pubrec{
			PacketID: 9, ReasonCode: packet.QuotaExceeded,
			Properties: goldenProps(packet.Properties{
				ReasonString: "full", User: []packet.UserProperty{{Key: "a", Value: "b"}, {Key: "a", Value: "c"}},
			}, packet.PropReasonString),
		},
	},
	{
		name:    "PUBREL/5.0/short form",
		version: packet.V5,
		raw: []byte{
			0x62, 0x02, // PUBREL (flags 0010), remaining length 2
			0x00, 0x06, // packet identifier 6
		},
		pkt: &packet.Pubrel{PacketID: 6},
	},
	{
		name:    "PUBREL/5.0/reason code only",
		version: packet.V5,
		raw: []byte{
			0x62, 0x03, // PUBREL (flags 0010), remaining length 3
			0x00, 0x06, // packet identifier 6
			0x92, // reason code 0x92 packet identifier not found
		},
		pkt: &packet.Pubrel{PacketID: 6, ReasonCode: packet.PacketIdentifierNotFound},
	},
	{
		name:    "PUBREL/5.0/long form",
		version: packet.V5,
		raw: []byte{
			0x62, 0x09, // PUBREL (flags 0010), remaining length 9
			0x00, 0x0c, // packet identifier 12
			0x92,                       // reason code 0x92 packet identifier not found
			0x05,                       // property length 5
			0x1f, 0x00, 0x02, 'n', 'f', // reason string "nf"
		},
		pkt: &packet.Pubrel{
			PacketID: 12, ReasonCode: packet.PacketIdentifierNotFound,
			Properties: goldenProps(packet.Properties{ReasonString: "nf"}, packet.PropReasonString),
		},
	},
	{
		name:    "PUBCOMP/5.0/short form",
		version: packet.V5,
		raw: []byte{
			0x70, 0x02, // PUBCOMP, remaining length 2
			0x00, 0x07, // packet identifier 7
		},
		pkt: &packet.Pubcomp{PacketID: 7},
	},
	{
		name:    "PUBCOMP/5.0/reason code only",
		version: packet.V5,
		raw: []byte{
			0x70, 0x03, // PUBCOMP, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x92, // reason code 0x92 packet identifier not found
		},
		pkt: &packet.Pubcomp{PacketID: 1, ReasonCode: packet.PacketIdentifierNotFound},
	},
	{
		name:    "PUBCOMP/5.0/success with user property",
		version: packet.V5,
		raw: []byte{
			0x70, 0x0b, // PUBCOMP, remaining length 11
			0x00, 0x0d, // packet identifier 13
			0x00,                                   // reason code success, needed before properties
			0x07,                                   // property length 7
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		},
		pkt: &packet.Pubcomp{
			PacketID:   13,
			Properties: packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}},
		},
	},

	// -------------------------------------------------------------- SUBSCRIBE
	{
		name:    "SUBSCRIBE/3.1.1",
		version: packet.V311,
		raw: []byte{
			0x82, 0x12, // SUBSCRIBE (flags 0010), remaining length 18
			0x00, 0x0a, // packet identifier 10
			0x00, 0x03, 'a', '/', '+', // topic filter "a/+"
			0x01,                      // options: QoS 1
			0x00, 0x03, 'b', '/', '#', // topic filter "b/#"
			0x02,            // options: QoS 2
			0x00, 0x01, 'c', // topic filter "c"
			0x00, // options: QoS 0
		},
		pkt: &packet.Subscribe{PacketID: 10, Subscriptions: []packet.Subscription{
			{Filter: "a/+", QoS: 1}, {Filter: "b/#", QoS: 2}, {Filter: "c", QoS: 0},
		}},
	},
	{
		name:    "SUBSCRIBE/5.0/minimal",
		version: packet.V5,
		raw: []byte{
			0x82, 0x07, // SUBSCRIBE (flags 0010), remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00,            // property length 0
			0x00, 0x01, 't', // topic filter "t"
			0x00, // options: QoS 0
		},
		pkt: &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t"}}},
	},
	{
		name:    "SUBSCRIBE/5.0/all options",
		version: packet.V5,
		raw: []byte{
			0x82, 0x24, // SUBSCRIBE (flags 0010), remaining length 36
			0x00, 0x0b, // packet identifier 11
			0x0a,             // property length 10
			0x0b, 0xc8, 0x01, // subscription identifier 200
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x03, 'x', '/', 'y', // topic filter "x/y"
			0x2e,                                                         // options: retain handling 2, retain as published, no local, QoS 2
			0x00, 0x0a, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', // topic filter "$share/g/t"
			0x19,            // options: retain handling 1, retain as published, QoS 1
			0x00, 0x01, 'z', // topic filter "z"
			0x00, // options: none
		},
		pkt: &packet.Subscribe{
			PacketID: 11,
			Properties: packet.Properties{
				SubscriptionIDs: []uint32{200}, User: []packet.UserProperty{{Key: "k", Value: "v"}},
			},
			Subscriptions: []packet.Subscription{
				{Filter: "x/y", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "$share/g/t", QoS: 1, RetainAsPublished: true, RetainHandling: 1},
				{Filter: "z"},
			},
		},
	},

	// ----------------------------------------------------------------- SUBACK
	{
		name:    "SUBACK/3.1.1",
		version: packet.V311,
		raw: []byte{
			0x90, 0x06, // SUBACK, remaining length 6
			0x00, 0x0a, // packet identifier 10
			0x00, // granted QoS 0
			0x01, // granted QoS 1
			0x02, // granted QoS 2
			0x80, // failure
		},
		pkt: &packet.Suback{PacketID: 10, ReasonCodes: []packet.ReasonCode{
			packet.GrantedQoS0, packet.GrantedQoS1, packet.GrantedQoS2, packet.UnspecifiedError,
		}},
	},
	{
		// 3.1.1 has a single failure code: any 5.0 failure is written 0x80.
		name:    "SUBACK/3.1.1/failure codes mapped to 0x80",
		version: packet.V311,
		raw: []byte{
			0x90, 0x04, // SUBACK, remaining length 4
			0x00, 0x01, // packet identifier 1
			0x01, // granted QoS 1
			0x80, // failure (0x87 not authorized)
		},
		pkt:        &packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{packet.GrantedQoS1, packet.NotAuthorized}},
		encodeOnly: true,
	},
	{
		name:    "SUBACK/5.0/every reason code",
		version: packet.V5,
		raw: []byte{
			0x90, 0x0f, // SUBACK, remaining length 15
			0x00, 0x0b, // packet identifier 11
			0x00,             // property length 0
			0x00, 0x01, 0x02, // granted QoS 0, 1, 2
			0x80, 0x83, 0x87, // unspecified error, implementation specific error, not authorized
			0x8f, 0x91, 0x97, // topic filter invalid, packet identifier in use, quota exceeded
			0x9e, 0xa1, 0xa2, // shared, subscription identifiers, wildcard subscriptions not supported
		},
		pkt: &packet.Suback{PacketID: 11, ReasonCodes: []packet.ReasonCode{
			packet.GrantedQoS0, packet.GrantedQoS1, packet.GrantedQoS2,
			packet.UnspecifiedError, packet.ImplementationSpecificError, packet.NotAuthorized,
			packet.TopicFilterInvalid, packet.PacketIdentifierInUse, packet.QuotaExceeded,
			packet.SharedSubscriptionsNotSupported, packet.SubscriptionIdentifiersNotSupported,
			packet.WildcardSubscriptionsNotSupported,
		}},
	},
	{
		name:    "SUBACK/5.0/reason string",
		version: packet.V5,
		raw: []byte{
			0x90, 0x0d, // SUBACK, remaining length 13
			0x00, 0x0c, // packet identifier 12
			0x09,                                           // property length 9
			0x1f, 0x00, 0x06, 'd', 'e', 'n', 'i', 'e', 'd', // reason string "denied"
			0x87, // not authorized
		},
		pkt: &packet.Suback{
			PacketID:    12,
			Properties:  goldenProps(packet.Properties{ReasonString: "denied"}, packet.PropReasonString),
			ReasonCodes: []packet.ReasonCode{packet.NotAuthorized},
		},
	},

	// ------------------------------------------------------------ UNSUBSCRIBE
	{
		name:    "UNSUBSCRIBE/3.1.1",
		version: packet.V311,
		raw: []byte{
			0xa2, 0x0c, // UNSUBSCRIBE (flags 0010), remaining length 12
			0x00, 0x02, // packet identifier 2
			0x00, 0x03, 'a', '/', 'b', // topic filter "a/b"
			0x00, 0x03, 'c', '/', '#', // topic filter "c/#"
		},
		pkt: &packet.Unsubscribe{PacketID: 2, Filters: []string{"a/b", "c/#"}},
	},
	{
		name:    "UNSUBSCRIBE/5.0",
		version: packet.V5,
		raw: []byte{
			0xa2, 0x0d, // UNSUBSCRIBE (flags 0010), remaining length 13
			0x00, 0x03, // packet identifier 3
			0x07,                                   // property length 7
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x01, 'a', // topic filter "a"
		},
		pkt: &packet.Unsubscribe{
			PacketID:   3,
			Properties: packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}},
			Filters:    []string{"a"},
		},
	},

	// --------------------------------------------------------------- UNSUBACK
	{
		name:    "UNSUBACK/3.1.1",
		version: packet.V311,
		raw: []byte{
			0xb0, 0x02, // UNSUBACK, remaining length 2
			0x00, 0x02, // packet identifier 2
		},
		pkt: &packet.Unsuback{PacketID: 2},
	},
	{
		// 3.1.1 UNSUBACK has no payload: Append drops the reason codes.
		name:    "UNSUBACK/3.1.1/reason codes dropped",
		version: packet.V311,
		raw: []byte{
			0xb0, 0x02, // UNSUBACK, remaining length 2
			0x00, 0x02, // packet identifier 2
		},
		pkt:        &packet.Unsuback{PacketID: 2, ReasonCodes: []packet.ReasonCode{packet.Success}},
		encodeOnly: true,
	},
	{
		name:    "UNSUBACK/5.0/every reason code",
		version: packet.V5,
		raw: []byte{
			0xb0, 0x0a, // UNSUBACK, remaining length 10
			0x00, 0x03, // packet identifier 3
			0x00,       // property length 0
			0x00, 0x11, // success, no subscription existed
			0x80, 0x83, 0x87, // unspecified, implementation specific, not authorized
			0x8f, 0x91, // topic filter invalid, packet identifier in use
		},
		pkt: &packet.Unsuback{PacketID: 3, ReasonCodes: []packet.ReasonCode{
			packet.Success, packet.NoSubscriptionExisted, packet.UnspecifiedError,
			packet.ImplementationSpecificError, packet.NotAuthorized, packet.TopicFilterInvalid,
			packet.PacketIdentifierInUse,
		}},
	},
	{
		name:    "UNSUBACK/5.0/reason string and user property",
		version: packet.V5,
		raw: []byte{
			0xb0, 0x0f, // UNSUBACK, remaining length 15
			0x00, 0x04, // packet identifier 4
			0x0b,                  // property length 11
			0x1f, 0x00, 0x01, 'r', // reason string "r"
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
			0x00, // success
		},
		pkt: &packet.Unsuback{
			PacketID: 4,
			Properties: goldenProps(packet.Properties{
				ReasonString: "r", User: []packet.UserProperty{{Key: "a", Value: "b"}},
			}, packet.PropReasonString),
			ReasonCodes: []packet.ReasonCode{packet.Success},
		},
	},

	// -------------------------------------------------------- PINGREQ PINGRESP
	{
		name:    "PINGREQ/3.1",
		version: packet.V31,
		raw:     []byte{0xc0, 0x00}, // PINGREQ, remaining length 0
		pkt:     &packet.Pingreq{},
	},
	{
		name:    "PINGREQ/3.1.1",
		version: packet.V311,
		raw:     []byte{0xc0, 0x00}, // PINGREQ, remaining length 0
		pkt:     &packet.Pingreq{},
	},
	{
		name:    "PINGREQ/5.0",
		version: packet.V5,
		raw:     []byte{0xc0, 0x00}, // PINGREQ, remaining length 0
		pkt:     &packet.Pingreq{},
	},
	{
		name:    "PINGRESP/3.1.1",
		version: packet.V311,
		raw:     []byte{0xd0, 0x00}, // PINGRESP, remaining length 0
		pkt:     &packet.Pingresp{},
	},
	{
		name:    "PINGRESP/5.0",
		version: packet.V5,
		raw:     []byte{0xd0, 0x00}, // PINGRESP, remaining length 0
		pkt:     &packet.Pingresp{},
	},

	// ------------------------------------------------------------- DISCONNECT
	{
		name:    "DISCONNECT/3.1.1",
		version: packet.V311,
		raw:     []byte{0xe0, 0x00}, // DISCONNECT, remaining length 0
		pkt:     &packet.Disconnect{},
	},
	{
		// 3.1.1 DISCONNECT has no body: Append drops reason code and properties.
		name:       "DISCONNECT/3.1.1/reason code dropped",
		version:    packet.V311,
		raw:        []byte{0xe0, 0x00}, // DISCONNECT, remaining length 0
		pkt:        &packet.Disconnect{ReasonCode: packet.DisconnectWithWill},
		encodeOnly: true,
	},
	{
		name:    "DISCONNECT/5.0/no reason code",
		version: packet.V5,
		raw:     []byte{0xe0, 0x00}, // DISCONNECT, remaining length 0: normal disconnection
		pkt:     &packet.Disconnect{},
	},
	{
		name:    "DISCONNECT/5.0/reason code only",
		version: packet.V5,
		raw: []byte{
			0xe0, 0x01, // DISCONNECT, remaining length 1
			0x04, // reason code 0x04 disconnect with will message
		},
		pkt: &packet.Disconnect{ReasonCode: packet.DisconnectWithWill},
	},
	{
		name:    "DISCONNECT/5.0/explicit normal disconnection",
		version: packet.V5,
		raw: []byte{
			0xe0, 0x01, // DISCONNECT, remaining length 1
			0x00, // reason code 0x00, which Append leaves out
		},
		pkt:        &packet.Disconnect{},
		decodeOnly: true,
	},
	{
		name:    "DISCONNECT/5.0/reason code, empty properties",
		version: packet.V5,
		raw: []byte{
			0xe0, 0x02, // DISCONNECT, remaining length 2
			0x04, // reason code 0x04 disconnect with will message
			0x00, // property length 0, which Append leaves out
		},
		pkt:        &packet.Disconnect{ReasonCode: packet.DisconnectWithWill},
		decodeOnly: true,
	},
	{
		name:    "DISCONNECT/5.0/reason code and properties",
		version: packet.V5,
		raw: []byte{
			0xe0, 0x17, // DISCONNECT, remaining length 23
			0x9c,                         // reason code 0x9C use another server
			0x15,                         // property length 21
			0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0, present
			0x1c, 0x00, 0x06, 'b', ':', '1', '8', '8', '3', // server reference "b:1883"
			0x1f, 0x00, 0x04, 'm', 'o', 'v', 'e', // reason string "move"
		},
		pkt: &packet.Disconnect{
			ReasonCode: packet.UseAnotherServer,
			Properties: goldenProps(packet.Properties{ServerReference: "b:1883", ReasonString: "move"},
				packet.PropSessionExpiry, packet.PropServerReference, packet.PropReasonString),
		},
	},

	// ------------------------------------------------------------------- AUTH
	{
		name:    "AUTH/5.0/no reason code",
		version: packet.V5,
		raw:     []byte{0xf0, 0x00}, // AUTH, remaining length 0: success
		pkt:     &packet.Auth{},
	},
	{
		name:    "AUTH/5.0/re-authenticate",
		version: packet.V5,
		raw: []byte{
			0xf0, 0x01, // AUTH, remaining length 1
			0x19, // reason code 0x19 re-authenticate
		},
		pkt: &packet.Auth{ReasonCode: packet.ReAuthenticate},
	},
	{
		name:    "AUTH/5.0/continue with properties",
		version: packet.V5,
		raw: []byte{
			0xf0, 0x1e, // AUTH, remaining length 30
			0x18,                                                                    // reason code 0x18 continue authentication
			0x1c,                                                                    // property length 28
			0x15, 0x00, 0x0b, 'S', 'C', 'R', 'A', 'M', '-', 'S', 'H', 'A', '-', '1', // authentication method "SCRAM-SHA-1"
			0x16, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, // authentication data 01 02 03 04
			0x1f, 0x00, 0x04, 's', 't', 'e', 'p', // reason string "step"
		},
		pkt: &packet.Auth{
			ReasonCode: packet.ContinueAuthentication,
			Properties: goldenProps(packet.Properties{
				AuthMethod: "SCRAM-SHA-1", AuthData: []byte{1, 2, 3, 4}, ReasonString: "step",
			}, packet.PropAuthMethod, packet.PropAuthData, packet.PropReasonString),
		},
	},
}
