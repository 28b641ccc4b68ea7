module github.com/quic-go/quic-go

go 1.26.0

require (
	github.com/quic-go/qpack v0.6.0
	golang.org/x/crypto v0.54.0
	golang.org/x/net v0.56.0
	golang.org/x/sys v0.47.0
)

require golang.org/x/text v0.40.0 // indirect
