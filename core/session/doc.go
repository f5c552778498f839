// Package session is the broker's stateless packet-and-session core. A
// Handler turns an Event from the connection proxy (the connection's
// identity, its opaque connection state and raw MQTT frames) into a Reply:
// the frames to write back, the deliveries to other connections (addressed
// by proxy and connection id), whether to close, and the new connection
// state. Every fact that outlives one call lives behind the Store interface,
// so two calls for the same client may run on different machines.
//
// The same Handler runs in-process in the all-in-one broker and inside the
// AWS Lambda functions; Event and Reply are the JSON payloads those
// functions receive and return.
package session
