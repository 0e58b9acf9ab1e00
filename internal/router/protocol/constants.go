// Package protocol is the MariaDB client/server wire protocol as the router
// needs it: packet framing with sequence ids and 16 MiB continuation, the
// connection-phase packets (handshake v10, handshake response, SSL request,
// auth switch), OK/ERR/EOF packets, mysql_native_password scrambles, and a
// streaming relay that copies one command's response packet by packet
// without ever holding a result set in memory.
package protocol

// Capability flags of the connection phase.
const (
	// ClientLongPassword is CLIENT_MYSQL to MariaDB: a server that clears it
	// announces MariaDB's extended capabilities in the handshake filler.
	ClientLongPassword uint32 = 1 << iota
	ClientFoundRows
	ClientLongFlag
	ClientConnectWithDB
	ClientNoSchema
	ClientCompress
	ClientODBC
	ClientLocalFiles
	ClientIgnoreSpace
	ClientProtocol41
	ClientInteractive
	ClientSSL
	ClientIgnoreSigpipe
	ClientTransactions
	ClientReserved
	ClientSecureConnection
	ClientMultiStatements
	ClientMultiResults
	ClientPSMultiResults
	ClientPluginAuth
	ClientConnectAttrs
	ClientPluginAuthLenencClientData
	ClientCanHandleExpiredPasswords
	ClientSessionTrack
	ClientDeprecateEOF
)

const (
	ClientSSLVerifyServerCert uint32 = 1 << 30
	ClientRememberOptions     uint32 = 1 << 31
)

// MariaDB's extended capabilities (the upper 32 bits of its capability
// set, in the handshake packets' filler when CLIENT_MYSQL is clear).
const (
	// MariaDBProgress: the server sends progress reports (ERR packets with
	// code 0xffff) while a long statement runs.
	MariaDBProgress uint32 = 1 << iota
	MariaDBComMulti
	// MariaDBStmtBulk: COM_STMT_BULK_EXECUTE.
	MariaDBStmtBulk
	// MariaDBExtendedTypeInfo: column definitions carry extended type
	// information (json, uuid, geometry types).
	MariaDBExtendedTypeInfo
	// MariaDBCacheMetadata: a result set's column count is followed by a
	// byte saying whether column definitions follow (a prepared statement's
	// are left out when the client has them).
	MariaDBCacheMetadata
)

// Server status flags, carried by OK and EOF packets.
const (
	StatusInTrans            uint16 = 0x0001
	StatusAutocommit         uint16 = 0x0002
	StatusMoreResultsExist   uint16 = 0x0008
	StatusCursorExists       uint16 = 0x0040
	StatusLastRowSent        uint16 = 0x0080
	StatusInTransReadOnly    uint16 = 0x2000
	StatusSessionStateChange uint16 = 0x4000
)

// Commands (the first byte of a client request).
const (
	ComSleep            byte = 0x00
	ComQuit             byte = 0x01
	ComInitDB           byte = 0x02
	ComQuery            byte = 0x03
	ComFieldList        byte = 0x04
	ComStatistics       byte = 0x09
	ComProcessKill      byte = 0x0c
	ComPing             byte = 0x0e
	ComChangeUser       byte = 0x11
	ComStmtPrepare      byte = 0x16
	ComStmtExecute      byte = 0x17
	ComStmtSendLongData byte = 0x18
	ComStmtClose        byte = 0x19
	ComStmtReset        byte = 0x1a
	ComSetOption        byte = 0x1b
	ComStmtFetch        byte = 0x1c
	ComResetConnection  byte = 0x1f
	ComStmtBulkExecute  byte = 0xfa
)

// Packet headers (the first payload byte of a server packet).
const (
	headerOK     byte = 0x00
	headerInfile byte = 0xfb
	headerEOF    byte = 0xfe
	headerERR    byte = 0xff
)

// MaxPayload is the largest payload one packet carries; a logical packet
// that long continues in the next packet.
const MaxPayload = 1<<24 - 1

// NativePassword is the only authentication plugin the router speaks.
const NativePassword = "mysql_native_password"

// progressCode is the error code of a progress report packet.
const progressCode = 0xffff

// trackSystemVariables is the session state tracker of system variables
// (CLIENT_SESSION_TRACK).
const trackSystemVariables = 0
