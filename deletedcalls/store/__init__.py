"""The writer's side: the warehouse file and its session, materialise, retention, and publishing the stores readers open."""
