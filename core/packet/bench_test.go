package packet_test

import (
	"bytes"
	"io"
	"testing"

	p5 "github.com/eclipse/paho.golang/packets"

	"github.com/mqttless/mqttless/core/packet"
)

// Benchmarks against paho.golang, the MQTT 5.0 codec of the Eclipse Paho Go
// client. paho reads from an io.Reader, so its decode benchmarks include
// framing; "mqttless" decodes a frame already cut out (which is what the
// broker does after FrameReader), and "mqttless-reader" adds the FrameReader
// for a like-for-like comparison.

const benchTopic = "devices/1234/telemetry/temperature"

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"1KB", 1 << 10}, {"64KB", 64 << 10}}

var (
	benchSinkPublish packet.Publish
	benchSinkPaho    *p5.ControlPacket
	benchSinkBytes   []byte
)

func benchPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

func benchPublish(n int) *packet.Publish {
	return &packet.Publish{QoS: 1, PacketID: 4242, Topic: benchTopic, Payload: benchPayload(n)}
}

func benchPahoPublish(n int) *p5.Publish {
	return &p5.Publish{QoS: 1, PacketID: 4242, Topic: benchTopic, Payload: benchPayload(n), Properties: &p5.Properties{}}
}

// benchConnect is a typical MQTT 5.0 CONNECT: credentials, a will and the
// properties clients commonly send.
func benchConnect() *packet.Connect {
	c := &packet.Connect{
		CleanStart: true, KeepAlive: 60, ClientID: "sensor-0042-7f3a9c",
		UsernameFlag: true, Username: "device-0042",
		PasswordFlag: true, Password: []byte("s3cr3t-t0k3n-0123456789abcdef"),
		Will: &packet.Will{QoS: 1, Retain: true, Topic: "devices/1234/status", Payload: []byte("offline")},
	}
	c.Properties.SessionExpiry = 3600
	c.Properties.ReceiveMaximum = 100
	c.Properties.MaximumPacketSize = 1 << 20
	c.Properties.TopicAliasMaximum = 16
	c.Properties.Set(packet.PropSessionExpiry).Set(packet.PropReceiveMaximum).
		Set(packet.PropMaximumPacketSize).Set(packet.PropTopicAliasMaximum)
	c.Properties.User = []packet.UserProperty{{Key: "fw", Value: "1.4.2"}}
	c.Will.Properties.WillDelay = 30
	c.Will.Properties.Set(packet.PropWillDelay)
	return c
}

func benchPahoConnect() *p5.Connect {
	return &p5.Connect{
		ProtocolName: "MQTT", ProtocolVersion: 5,
		CleanStart: true, KeepAlive: 60, ClientID: "sensor-0042-7f3a9c",
		UsernameFlag: true, Username: "device-0042",
		PasswordFlag: true, Password: []byte("s3cr3t-t0k3n-0123456789abcdef"),
		WillFlag: true, WillQOS: 1, WillRetain: true, WillTopic: "devices/1234/status", WillMessage: []byte("offline"),
		Properties: &p5.Properties{
			SessionExpiryInterval: pxPtr[uint32](3600), ReceiveMaximum: pxPtr[uint16](100),
			MaximumPacketSize: pxPtr[uint32](1 << 20), TopicAliasMaximum: pxPtr[uint16](16),
			User: []p5.User{{Key: "fw", Value: "1.4.2"}},
		},
		WillProperties: &p5.Properties{WillDelayInterval: pxPtr[uint32](30)},
	}
}

func benchEncode(b *testing.B, p packet.Packet) []byte {
	frame, err := p.Append(nil, packet.V5)
	if err != nil {
		b.Fatal(err)
	}
	return frame
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, size := range benchSizes {
		frame := benchEncode(b, benchPublish(size.n))
		b.Run("mqttless/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			var p packet.Publish
			for b.Loop() {
				if err := p.Decode(frame, packet.V5); err != nil {
					b.Fatal(err)
				}
			}
			benchSinkPublish = p
		})
		b.Run("mqttless-reader/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			r := bytes.NewReader(frame)
			fr := packet.NewFrameReader(r, 1<<20)
			buf := make([]byte, 0, len(frame))
			var p packet.Publish
			for b.Loop() {
				r.Reset(frame)
				f, err := fr.ReadFrame(buf)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Decode(f, packet.V5); err != nil {
					b.Fatal(err)
				}
			}
			benchSinkPublish = p
		})
		b.Run("paho/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			r := bytes.NewReader(frame)
			var cp *p5.ControlPacket
			var err error
			for b.Loop() {
				r.Reset(frame)
				if cp, err = p5.ReadPacket(r); err != nil {
					b.Fatal(err)
				}
			}
			benchSinkPaho = cp
		})
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("mqttless/"+size.name, func(b *testing.B) {
			p := benchPublish(size.n)
			buf := benchEncode(b, p)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			var err error
			for b.Loop() {
				if buf, err = p.Append(buf[:0], packet.V5); err != nil {
					b.Fatal(err)
				}
			}
			benchSinkBytes = buf
		})
		b.Run("paho/"+size.name, func(b *testing.B) {
			p := benchPahoPublish(size.n)
			var buf bytes.Buffer
			if _, err := p.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if _, err := p.WriteTo(&buf); err != nil {
					b.Fatal(err)
				}
			}
			benchSinkBytes = buf.Bytes()
		})
	}
}

func BenchmarkDecodeConnect(b *testing.B) {
	frame := benchEncode(b, benchConnect())
	b.Run("mqttless", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		var c packet.Connect
		for b.Loop() {
			if err := c.Decode(frame, packet.V5); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("paho", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		r := bytes.NewReader(frame)
		var cp *p5.ControlPacket
		var err error
		for b.Loop() {
			r.Reset(frame)
			if cp, err = p5.ReadPacket(r); err != nil {
				b.Fatal(err)
			}
		}
		benchSinkPaho = cp
	})
}

func BenchmarkEncodeConnect(b *testing.B) {
	b.Run("mqttless", func(b *testing.B) {
		c := benchConnect()
		buf := benchEncode(b, c)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		var err error
		for b.Loop() {
			if buf, err = c.Append(buf[:0], packet.V5); err != nil {
				b.Fatal(err)
			}
		}
		benchSinkBytes = buf
	})
	b.Run("paho", func(b *testing.B) {
		c := benchPahoConnect()
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(buf.Len()))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if _, err := c.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
		}
		benchSinkBytes = buf.Bytes()
	})
}

// benchLoop is an endless stream repeating data, as a buffered connection
// would deliver it.
type benchLoop struct {
	data []byte
	off  int
}

func (l *benchLoop) Read(p []byte) (int, error) {
	if l.off == len(l.data) {
		l.off = 0
	}
	n := copy(p, l.data[l.off:])
	l.off += n
	return n, nil
}

func (l *benchLoop) ReadByte() (byte, error) {
	if l.off == len(l.data) {
		l.off = 0
	}
	c := l.data[l.off]
	l.off++
	return c, nil
}

var _ io.ByteReader = (*benchLoop)(nil)

func BenchmarkFrameReader(b *testing.B) {
	for _, size := range benchSizes {
		frame := benchEncode(b, benchPublish(size.n))
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			fr := packet.NewFrameReader(&benchLoop{data: frame}, 1<<20)
			buf := make([]byte, 0, len(frame))
			var err error
			for b.Loop() {
				if buf, err = fr.ReadFrame(buf); err != nil {
					b.Fatal(err)
				}
			}
			benchSinkBytes = buf
		})
	}
}
