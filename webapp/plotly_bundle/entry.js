// The traces the dashboard draws: the 3D facility (mesh3d, scatter3d), the power flow (sankey), the compare
// bars (bar) and the transient time series (scatter, part of the core). plotly.js's own full bundle is 4.8 MB;
// this one is ~1.8 MB and is parsed before Dash starts instead of after (webapp/assets/plotly-twin.min.js).
'use strict';
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/mesh3d'),
    require('plotly.js/lib/scatter3d'),
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/sankey'),
]);

module.exports = Plotly;
