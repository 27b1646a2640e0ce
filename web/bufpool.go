package web

// bufferPool keeps up to cap(free) write buffers between writes. Unlike a
// sync.Pool it is not emptied by every GC, which at a hundred viewers meant
// allocating a buffer per frame per viewer; it holds at most
// cap(free) × the buffer size.
type bufferPool struct{ free chan any }

func newBufferPool(n int) *bufferPool { return &bufferPool{free: make(chan any, n)} }

// Get returns a buffer, or nil (then gorilla allocates one).
func (p *bufferPool) Get() any {
	select {
	case b := <-p.free:
		return b
	default:
		return nil
	}
}

// Put keeps b unless the pool is full.
func (p *bufferPool) Put(b any) {
	select {
	case p.free <- b:
	default:
	}
}
