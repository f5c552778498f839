// Package adminsock lets mqttless-admin change the users and access rules
// of the embedded store while the broker runs. The embedded store is one
// bbolt file, which one process at a time may open (bbolt holds an
// exclusive lock on it): the broker holds it while it runs. So the broker
// serves its auth.Store on a Unix socket in -data-dir (SocketFile), and
// mqttless-admin, finding a broker there, sends its changes through it
// rather than opening the file; with no broker running it opens the file.
//
// The socket is as private as the store file: mode 0600, in the data
// directory; whoever may connect to it may read and write the file
// itself. One request per connection, as JSON: a request names the
// auth.Store method and its arguments, the response carries the results
// or the error, with its kind (not found, exists, invalid) so that the
// client returns errors that match auth.ErrNotFound, auth.ErrExists and
// auth.ErrInvalid with errors.Is.
//
// The handlers cache users and rules for -auth-cache (10 s by default): a
// change made through the socket applies within it, as a change to the
// DynamoDB table does.
package adminsock

// SocketFile is the name of the admin socket in -data-dir.
const SocketFile = "admin.sock"
