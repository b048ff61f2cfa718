package api

// HoneytokenService serves the endpoints of honeytokens.
type HoneytokenService struct{}

// honeytokenRoutes lists the endpoints of honeytokens; none while s.Honeytokens is nil.
func (s *Server) honeytokenRoutes() []route {
	return nil
}
