package api

// EventService serves the endpoints of sensor events (intake from remote sensors, webhooks and Suricata).
type EventService struct{}

// eventRoutes lists the endpoints of sensor events (intake from remote sensors, webhooks and Suricata); none while s.Events is nil.
func (s *Server) eventRoutes() []route {
	return nil
}
