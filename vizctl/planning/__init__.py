"""Planning: the pure planner, the plan, plan files and the details cache, the renderers."""
