package api

// ContainService serves the endpoints of containment connectors.
type ContainService struct{}

// containRoutes lists the endpoints of containment connectors; none while s.Contain is nil.
func (s *Server) containRoutes() []route {
	return nil
}
