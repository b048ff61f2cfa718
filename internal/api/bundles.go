package api

// BundleService serves the endpoints of court bundles and time-stamp anchors.
type BundleService struct{}

// bundleRoutes lists the endpoints of court bundles and time-stamp anchors; none while s.Bundles is nil.
func (s *Server) bundleRoutes() []route {
	return nil
}
