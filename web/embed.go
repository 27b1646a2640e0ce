package web

import (
	"embed"
	"io/fs"
)

//go:embed ui
var ui embed.FS

// EmbeddedUI returns the browser UI compiled into the binary.
func EmbeddedUI() fs.FS {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the embed directive guarantees "ui" exists
	}
	return sub
}
