package ssh

// NumConns returns how many SSH connections the Source holds (for tests).
func (s *Source) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
