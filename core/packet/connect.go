package packet

// Will is the will message of a CONNECT (section 3.1.3.2 to 3.1.3.4).
type Will struct {
	QoS        byte
	Retain     bool
	Properties Properties // 5.0 only: the will properties
	Topic      string
	Payload    []byte // aliases the decoded frame
}

// Connect is a CONNECT packet (section 3.1).
type Connect struct {
	// ProtocolName is "MQTT", or "MQIsdp" at level 3. Append fills it in
	// when it is empty.
	ProtocolName string
	// Version is the protocol level the packet carries. Decode sets it;
	// Append writes the version it is given instead.
	Version      Version
	CleanStart   bool // Clean Session at 3.1.1
	KeepAlive    uint16
	Properties   Properties // 5.0 only
	ClientID     string
	Will         *Will // nil without a will
	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte // aliases the decoded frame
}

// Type returns CONNECT.
func (p *Connect) Type() Type { return CONNECT }

// CONNECT flag bits (section 3.1.2.3).
const (
	flagReserved   = 0x01
	flagCleanStart = 0x02
	flagWill       = 0x04
	flagWillRetain = 0x20
	flagPassword   = 0x40
	flagUsername   = 0x80
)

// Decode decodes a CONNECT frame. The version comes from the packet, so v is
// ignored. When the protocol name or level is not supported the error is
// ErrProtocolName or ErrProtocolVersion and ProtocolName and Version are
// set, so that the server can answer with the right CONNACK.
func (p *Connect) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a CONNECT frame under lim.
func (p *Connect) DecodeWith(frame []byte, _ Version, lim Limits) error {
	_, b, err := body(frame, CONNECT, V5)
	if err != nil {
		return err
	}
	*p = Connect{}
	d := decoder{b: b, lim: lim}
	p.ProtocolName = d.str("protocol name")
	p.Version = Version(d.u8("protocol level"))
	if d.err != nil {
		return d.err
	}
	switch {
	case p.ProtocolName != "MQTT" && p.ProtocolName != "MQIsdp":
		return wrap(ErrProtocolName, "%q", p.ProtocolName) // [MQTT-3.1.2-1]
	case p.ProtocolName == "MQTT" && p.Version != V311 && p.Version != V5,
		p.ProtocolName == "MQIsdp" && p.Version != V31:
		return wrap(ErrProtocolVersion, "%s level %d", p.ProtocolName, byte(p.Version)) // [MQTT-3.1.2-2]
	}
	flags := d.u8("connect flags")
	p.KeepAlive = d.u16("keep alive")
	if d.err != nil {
		return d.err
	}
	if flags&flagReserved != 0 {
		return wrap(ErrConnectFlags, "reserved flag set") // [MQTT-3.1.2-3]
	}
	p.CleanStart = flags&flagCleanStart != 0
	willQoS := flags >> 3 & 3
	if flags&flagWill == 0 {
		if willQoS != 0 {
			return wrap(ErrConnectFlags, "will QoS without a will") // [MQTT-3.1.2-11] (3.1.1: [MQTT-3.1.2-13])
		}
		if flags&flagWillRetain != 0 {
			return wrap(ErrConnectFlags, "will retain without a will") // [MQTT-3.1.2-13] (3.1.1: [MQTT-3.1.2-15])
		}
	} else if willQoS == 3 {
		return wrap(ErrInvalidQoS, "will QoS 3") // [MQTT-3.1.2-12] (3.1.1: [MQTT-3.1.2-14])
	}
	p.UsernameFlag = flags&flagUsername != 0
	p.PasswordFlag = flags&flagPassword != 0
	if p.Version < V5 && p.PasswordFlag && !p.UsernameFlag {
		return ErrPasswordWithoutUsername // 3.1.1: [MQTT-3.1.2-22]
	}
	if p.Version == V5 {
		d.properties(&p.Properties, CONNECT)
	}
	p.ClientID = d.str("client identifier") // [MQTT-3.1.3-3] [MQTT-3.1.3-4]
	if flags&flagWill != 0 {
		w := &Will{QoS: willQoS, Retain: flags&flagWillRetain != 0}
		if p.Version == V5 {
			d.properties(&w.Properties, willProps)
		}
		w.Topic = d.str("will topic") // [MQTT-3.1.2-9] [MQTT-3.1.3-11]
		w.Payload = d.binary("will payload")
		if d.err == nil {
			if err := validTopicName(w.Topic); err != nil {
				return wrap(ErrTopicName, "will topic %q: %v", w.Topic, err)
			}
		}
		p.Will = w
	}
	if p.UsernameFlag {
		p.Username = d.str("user name") // [MQTT-3.1.2-17] [MQTT-3.1.3-12]
	}
	if p.PasswordFlag {
		p.Password = d.binary("password") // [MQTT-3.1.2-19]
	}
	return d.end("CONNECT")
}

// Append appends the CONNECT at version v to dst.
func (p *Connect) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	name := p.ProtocolName
	if name == "" {
		name = "MQTT"
		if v == V31 {
			name = "MQIsdp"
		}
	}
	if v < V5 && p.PasswordFlag && !p.UsernameFlag {
		return dst, ErrPasswordWithoutUsername // 3.1.1: [MQTT-3.1.2-22]
	}
	if err := checkProps(&p.Properties, CONNECT, v); err != nil {
		return dst, err
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"protocol name", len(name)}, {"client identifier", len(p.ClientID)},
		{"user name", len(p.Username)}, {"password", len(p.Password)}} {
		if err := checkLen16(f.name, f.n); err != nil {
			return dst, err
		}
	}
	pt, ps := propsSize(&p.Properties, v)
	rem := 2 + len(name) + 1 + 1 + 2 + pt + 2 + len(p.ClientID)
	var flags byte
	if p.CleanStart {
		flags |= flagCleanStart
	}
	wt, ws := 0, 0
	if w := p.Will; w != nil {
		if w.QoS > 2 {
			return dst, wrap(ErrInvalidQoS, "will QoS %d", w.QoS) // [MQTT-3.1.2-12]
		}
		if err := checkProps(&w.Properties, willProps, v); err != nil {
			return dst, err
		}
		if err := checkLen16("will topic", len(w.Topic)); err != nil {
			return dst, err
		}
		if err := checkLen16("will payload", len(w.Payload)); err != nil {
			return dst, err
		}
		wt, ws = propsSize(&w.Properties, v)
		rem += wt + 2 + len(w.Topic) + 2 + len(w.Payload)
		flags |= flagWill | w.QoS<<3
		if w.Retain {
			flags |= flagWillRetain
		}
	}
	if p.UsernameFlag {
		flags |= flagUsername
		rem += 2 + len(p.Username)
	}
	if p.PasswordFlag {
		flags |= flagPassword
		rem += 2 + len(p.Password)
	}
	dst, err := appendHeader(dst, CONNECT, 0, rem)
	if err != nil {
		return dst, err
	}
	dst = appendString(dst, name)
	dst = append(dst, byte(v), flags)
	dst = appendU16(dst, p.KeepAlive)
	dst = appendProps(dst, &p.Properties, v, ps)
	dst = appendString(dst, p.ClientID)
	if w := p.Will; w != nil {
		dst = appendProps(dst, &w.Properties, v, ws)
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if p.UsernameFlag {
		dst = appendString(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendBinary(dst, p.Password)
	}
	return dst, nil
}
