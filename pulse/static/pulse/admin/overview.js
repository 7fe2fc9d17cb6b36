/* The staff overview's charts (pulse/templates/admin/pulse/overview.html): each <canvas data-chart="id">
   is drawn by Chart.js (vendored under pulse/vendor/chartjs) from the JSON in <script id="id">, which
   the server wrote with json_script. The same numbers are in the table under each chart. */
(function () {
    "use strict";

    function draw(canvas) {
        var source = document.getElementById(canvas.dataset.chart);
        if (!source || typeof Chart === "undefined") {
            return;
        }
        var spec = JSON.parse(source.textContent);
        var scales = {
            x: {stacked: Boolean(spec.stacked)},
            y: {stacked: Boolean(spec.stacked), beginAtZero: true}
        };
        if (spec.y_max) {
            scales.y.max = spec.y_max;
        }
        canvas.chart = new Chart(canvas, {
            type: spec.type,
            data: {labels: spec.labels, datasets: spec.datasets},
            options: {
                animation: false,
                maintainAspectRatio: false,
                spanGaps: true,
                scales: scales,
                plugins: {legend: {position: "bottom"}}
            }
        });
        canvas.dataset.drawn = "true";
    }

    function drawAll() {
        document.querySelectorAll("canvas[data-chart]").forEach(draw);
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", drawAll);
    } else {
        drawAll();
    }
})();
