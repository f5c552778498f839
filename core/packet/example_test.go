package packet_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/mqttless/mqttless/core/packet"
)

// A connection's read loop: FrameReader cuts whole frames out of the
// stream into one reused buffer, and Decode turns each into a packet.
func ExampleFrameReader() {
	stream := []byte{
		// PUBLISH, QoS 1, remaining length 10
		0x32, 0x0a,
		0x00, 0x03, 'a', '/', 'b', // topic name "a/b"
		0x00, 0x01, // packet identifier 1
		0x00,     // no properties
		'h', 'i', // payload
		// PINGREQ
		0xc0, 0x00,
	}
	fr := packet.NewFrameReader(bytes.NewReader(stream), 1<<20) // refuse frames over 1 MB
	var buf []byte
	for {
		frame, err := fr.ReadFrame(buf)
		if err == io.EOF {
			break // the stream ended between frames
		}
		if err != nil {
			fmt.Println("read:", err)
			return
		}
		buf = frame // reuse the buffer for the next frame
		p, err := packet.Decode(frame, packet.V5)
		if err != nil {
			fmt.Println("decode:", err, "reason code", packet.ReasonCodeOf(err))
			return
		}
		// The payload aliases buf: use it (or copy it) before the next read.
		switch p := p.(type) {
		case *packet.Publish:
			fmt.Printf("%s topic=%q qos=%d id=%d payload=%q\n", p.Type(), p.Topic, p.QoS, p.PacketID, p.Payload)
		default:
			fmt.Println(p.Type())
		}
	}
	// Output:
	// PUBLISH topic="a/b" qos=1 id=1 payload="hi"
	// PINGREQ
}

// Building a PUBLISH and encoding it at MQTT 5.0 and at 3.1.1, where the
// properties are left out.
func ExamplePublish_Append() {
	p := &packet.Publish{QoS: 1, PacketID: 7, Topic: "sensors/t1", Payload: []byte("21.5")}
	p.Properties.ContentType = "text/plain"
	p.Properties.Set(packet.PropContentType) // scalar, string and binary properties are sent when Set
	p.Properties.User = []packet.UserProperty{{Key: "unit", Value: "C"}}

	var buf []byte // reuse across calls: Append grows it at most once per packet
	buf, err := p.Append(buf[:0], packet.V5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("5.0:   % x\n", buf)

	buf, err = p.Append(buf[:0], packet.V311)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("3.1.1: % x\n", buf)
	// Output:
	// 5.0:   32 2a 00 0a 73 65 6e 73 6f 72 73 2f 74 31 00 07 17 03 00 0a 74 65 78 74 2f 70 6c 61 69 6e 26 00 04 75 6e 69 74 00 01 43 32 31 2e 35
	// 3.1.1: 32 12 00 0a 73 65 6e 73 6f 72 73 2f 74 31 00 07 32 31 2e 35
}
